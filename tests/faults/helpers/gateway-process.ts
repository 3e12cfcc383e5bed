/**
 * The built gateway (`dist/main.js`) as a real process: seeded through LYSS_CONFIG, configured by env,
 * stopped by signal. Its stderr (JSON log lines) is kept for assertions; its pid is there for /proc checks.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
const MAIN = path.join(ROOT, 'dist/main.js');
export const SECRET_KEY = Buffer.alloc(32, 9).toString('base64');

let built = false;
/** Bundles src/ into dist/ once per test file (esbuild, a fraction of a second). */
export function buildOnce(): void {
  if (built) return;
  execFileSync('node', ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  built = true;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Writes a LYSS_CONFIG file (design.md §8 shape, JSON) into a new temporary folder; returns its path. */
export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lyss-fault-config-'));
  const file = path.join(dir, 'lyss.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface GatewayProcess {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  dataDir: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** JSON log lines with this message. */
  logs(msg: string): Record<string, unknown>[];
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  /** Open sockets of the process (from /proc/<pid>/fd). */
  sockets(): number;
  /** SIGTERM, then SIGKILL if it has not exited within `ms`. */
  stop(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  databaseUrl: string;
  redisUrl: string;
  configFile: string;
  env?: Record<string, string>;
  /** Reuse a data folder (the usage spill file lives there). */
  dataDir?: string;
  port?: number;
  /** How long to wait for the app to be up (/readyz past 'starting'). */
  readyMs?: number;
}

export async function startGatewayProcess(opts: StartOptions): Promise<GatewayProcess> {
  buildOnce();
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'lyss-fault-data-'));
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: opts.databaseUrl,
      REDIS_URL: opts.redisUrl,
      LYSS_SECRET_KEY: SECRET_KEY,
      LYSS_CONFIG: opts.configFile,
      LYSS_DATA_DIR: dataDir,
      LYSS_WORKERS: '1',
      LOG_LEVEL: 'info',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      alive = false;
      r({ code, signal });
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const proc: GatewayProcess = {
    url,
    port,
    pid: child.pid!,
    child,
    dataDir,
    output: () => out,
    logs: (msg) =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        })
        .filter((l) => l.msg === msg),
    exited,
    get alive() {
      return alive;
    },
    sockets: () => openSockets(child.pid!),
    async stop(ms = 30_000) {
      if (!alive) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  const deadline = Date.now() + (opts.readyMs ?? 30_000);
  for (;;) {
    if (!alive) throw new Error(`gateway exited at start:\n${out}`);
    try {
      // Past 'starting' (the app is up), whether or not its database and store are reachable.
      const r = await httpGet(`${url}/readyz`);
      if (!(r.status === 503 && r.body.includes('"starting"'))) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway not healthy within ${opts.readyMs ?? 30_000} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return proc;
}

/** A GET on a connection of its own, closed after the answer (no keep-alive socket left behind). */
export function httpGet(url: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Sockets a process holds open (Linux: /proc/<pid>/fd entries that link to `socket:[...]`). */
export function openSockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

/**
 * A process's TCP sockets by peer: `inbound` are connections to `listenPort` (clients), `to[port]` counts
 * connections to each remote port (upstreams, PostgreSQL, Redis). From /proc/<pid>/fd and /proc/<pid>/net/tcp*.
 */
export function socketPeers(pid: number, listenPort: number): { inbound: number; to: Record<number, number> } {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed while listing
    }
  }
  const out = { inbound: 0, to: {} as Record<number, number> };
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      const local = parseInt(cols[1]!.split(':')[1]!, 16);
      const remote = parseInt(cols[2]!.split(':')[1]!, 16);
      const state = cols[3];
      if (state === '0A') continue; // LISTEN
      if (local === listenPort) out.inbound++;
      else out.to[remote] = (out.to[remote] ?? 0) + 1;
    }
  }
  return out;
}
