/** What run.ts and profile.ts share: settings from the environment, the services' probes, the mock and the seed. */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';
import postgres from 'postgres';
import { buildSeed, type Seed } from './seed.js';
import { ROOT, spawnHelper, type Child } from './procs.js';

function envNumber(name: string, def: number, min = Number.MIN_VALUE): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min) throw new Error(`${name} must be a number of at least ${min === Number.MIN_VALUE ? 'more than 0' : min}, got "${raw}"`);
  return v;
}

export function loadSettings() {
  return {
    seconds: envNumber('BENCH_SECONDS', 5),
    rounds: Math.floor(envNumber('BENCH_ROUNDS', 3)),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', 2),
    connections: Math.floor(envNumber('BENCH_CONNECTIONS', 64)),
    rate: envNumber('BENCH_RATE', 500),
    leadInSeconds: envNumber('BENCH_LEAD_IN_SECONDS', 5, 0),
    streamChunks: Math.floor(envNumber('BENCH_STREAM_CHUNKS', 20)),
    longPromptChars: Math.floor(envNumber('BENCH_LONG_PROMPT_CHARS', 20_000, 1)),
    openStreams: Math.floor(envNumber('BENCH_OPEN_STREAMS', 5000)),
    slowChunks: Math.floor(envNumber('BENCH_SLOW_CHUNKS', 20)),
    slowDelayMs: envNumber('BENCH_SLOW_CHUNK_MS', 500),
    openStreamsRampMs: envNumber('BENCH_OPEN_STREAMS_RAMP_MS', 4000),
    mockPorts: Math.floor(envNumber('BENCH_MOCK_PORTS', 10)),
    tenants: Math.floor(envNumber('BENCH_TENANTS', 3)),
    channels: Math.floor(envNumber('BENCH_CHANNELS', 50)),
    tokens: Math.floor(envNumber('BENCH_TOKENS', 1000)),
    /** The many-tenants section's table: this many tenants (0 skips it), the same tokens, two channels each at least. */
    manyTenants: Math.floor(envNumber('BENCH_MANY_TENANTS', 50, 0)),
    scaleRateLimit: Math.floor(envNumber('BENCH_SCALE_RATE_LIMIT', 60)),
    scaleQuota: Math.floor(envNumber('BENCH_SCALE_QUOTA', 2000)),
    profileSeconds: envNumber('BENCH_PROFILE_SECONDS', 10),
    databaseServer: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
    keepDatabase: process.env.BENCH_KEEP_DB === '1',
    skipScale: process.env.BENCH_SKIP_SCALE === '1',
  };
}

export type Settings = ReturnType<typeof loadSettings>;

/** The server's version, or null when it cannot be reached. */
export async function probePostgres(url: string): Promise<string | null> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    return row?.v ?? 'unknown';
  } catch {
    return null;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** The server's version from INFO, or null when it does not answer within 2 s. */
export function probeRedis(url: string): Promise<string | null> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(u.port || 6379), u.hostname);
    let data = '';
    const done = (v: string | null) => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(2000, () => done(null));
    socket.on('error', () => done(null));
    socket.on('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (c) => {
      data += c.toString('utf8');
      if (data.startsWith('-')) return done(null);
      const m = /redis_version:([^\r\n]+)/.exec(data);
      if (m) done(m[1]!);
    });
  });
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', ...extra };
}

/**
 * Bundles the mock and the bare proxy into plain JavaScript in `workDir`, so they run as bare `node` processes
 * (no TypeScript loader thread inflating their memory and start-up, which would flatter the gateway).
 */
export async function buildHelpers(workDir: string): Promise<{ mock: string; bare: string }> {
  await build({
    entryPoints: { mock: path.join(ROOT, 'bench/mock-upstream.ts'), bare: path.join(ROOT, 'bench/bare-proxy.ts') },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: workDir,
    outExtension: { '.js': '.mjs' },
    // Bundled CommonJS dependencies call require(); give the ES module one.
    banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return { mock: path.join(workDir, 'mock.mjs'), bare: path.join(workDir, 'bare.mjs') };
}

export async function startMockChild(s: Settings, workDir: string, script: string): Promise<{ child: Child; ports: number[] }> {
  const { child, ready } = await spawnHelper<{ ports: number[] }>('mock', script, {
    env: childEnv({ BENCH_MOCK_PORTS: String(s.mockPorts), BENCH_STREAM_CHUNKS: String(s.streamChunks) }),
    logFile: path.join(workDir, 'mock.log'),
  });
  return { child, ports: ready.ports };
}

/**
 * The mock's first port serves the direct and bare-proxy runs; the channels use the others, so per-origin
 * connection counts at the mock are the gateway's alone.
 */
/** The seeded table (`Settings` carries the main one's size) as a LYSS_CONFIG file named `name` in `workDir`. */
export function writeSeed(
  size: { tenants: number; channels: number; tokens: number },
  mockPorts: number[],
  workDir: string,
  name = 'lyss-config.json',
): { seed: Seed; configFile: string } {
  const channelPorts = mockPorts.length > 1 ? mockPorts.slice(1) : mockPorts;
  const seed = buildSeed({ mockPorts: channelPorts, tenants: size.tenants, channels: size.channels, tokens: size.tokens });
  const configFile = path.join(workDir, name);
  // Plaintext channel keys and tokens: readable by this user only.
  writeFileSync(configFile, JSON.stringify(seed.config, null, 1), { mode: 0o600 });
  return { seed, configFile };
}

export const newSecretKey = () => randomBytes(32).toString('base64');

/** The soft limit on open files of this process (children inherit it). */
export function fdLimit(): number {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : NaN;
  } catch {
    return NaN;
  }
}
