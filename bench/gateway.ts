/**
 * The real gateway as the bench runs it: `node dist/main.js` with `npm start`'s flags (the esbuild bundle) in its own
 * process, configured only through its environment, plus the databases it needs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { childPids, ROOT, spawnNode, sleep, type Child } from './procs.js';

export interface GatewayEnv {
  port: number;
  databaseUrl: string | null;
  redisUrl: string | null;
  secretKey: string;
  configFile: string | null;
  dataDir: string;
  /** LYSS_WORKERS (default 1, one process); 0 is the gateway's own default: one cluster worker per core on PostgreSQL + Redis. */
  workers?: number;
  logLevel?: string;
}

/** The node flags of `npm start` (V8 heap tuning): the bench measures the gateway as users run it. */
export const START_FLAGS: string[] = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
  .split(/\s+/)
  .filter((arg) => arg.startsWith('--'));

/** The allocator setting README recommends for Linux in production (cluster workers get it by default). */
export const PRODUCTION_ENV = { MALLOC_ARENA_MAX: '2' };

export function gatewayEnv(g: GatewayEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    PORT: String(g.port),
    HOST: '127.0.0.1',
    LYSS_SECRET_KEY: g.secretKey,
    LYSS_DATA_DIR: g.dataDir,
    LYSS_WORKERS: String(g.workers ?? 1),
    LOG_LEVEL: g.logLevel ?? 'info',
    ...PRODUCTION_ENV,
  };
  if (g.databaseUrl) env.DATABASE_URL = g.databaseUrl;
  if (g.redisUrl) env.REDIS_URL = g.redisUrl;
  if (g.configFile) env.LYSS_CONFIG = g.configFile;
  return env;
}

/** Applies `K=V` pairs separated by spaces (an experiment's settings) to `env`; an empty value unsets K. */
export function applyEnvPairs(env: NodeJS.ProcessEnv, pairs: string): NodeJS.ProcessEnv {
  for (const pair of pairs.split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`not K=V: ${pair}`);
    const value = pair.slice(eq + 1);
    if (value === '') delete env[pair.slice(0, eq)];
    else env[pair.slice(0, eq)] = value;
  }
  return env;
}

/** `extraEnv`: `K=V` pairs, see applyEnvPairs. */
export function spawnGateway(name: string, g: GatewayEnv, logFile: string, nodeArgs: string[] = [], extraEnv = ''): Child {
  return spawnNode(name, [...START_FLAGS, ...nodeArgs, 'dist/main.js'], { env: applyEnvPairs(gatewayEnv(g), extraEnv), logFile });
}

/** Waits until GET /readyz answers 200 (database and store reachable); bounded. */
export async function waitReady(child: Child, port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited: number | string | null = null;
  void child.exited.then((c) => (exited = c));
  while (performance.now() < deadline) {
    if (exited !== null) throw new Error(`${child.name} exited (${exited}) before it was ready; see ${child.logFile}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.text();
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(25);
  }
  throw new Error(`${child.name} not ready within ${timeoutMs} ms; see ${child.logFile}`);
}

/**
 * Waits until `count` workers of a cluster primary (its children) have each logged that they are ready: /readyz
 * answers as soon as the first one does. Returns their pids; bounded.
 */
export async function waitWorkers(child: Child, count: number, timeoutMs: number): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const listening = new Set<number>();
    for (const m of readFileSync(child.logFile, 'utf8').matchAll(/"msg":"lyss gateway ready".*"pid":(\d+)/g)) listening.add(Number(m[1]));
    const workers = childPids(child.pid).filter((pid) => listening.has(pid));
    if (workers.length >= count) return workers;
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited (${child.proc.exitCode}) before its workers were ready; see ${child.logFile}`);
    await sleep(100);
  }
  throw new Error(`${child.name}: fewer than ${count} workers listening within ${timeoutMs} ms; see ${child.logFile}`);
}

/** A database URL on the same server as `serverUrl`, named `name`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  return databaseUrl(serverUrl, name);
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface LogSummary {
  warn: number;
  error: number;
  /** Each distinct warn/error message and how often it was logged. */
  messages: Record<string, number>;
}

/** Counts the warnings and errors in a gateway log (one JSON object a line; other lines are ignored). */
export function summarizeLog(file: string): LogSummary {
  const out: LogSummary = { warn: 0, error: 0, messages: {} };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if (e.level !== 'warn' && e.level !== 'error') continue;
      out[e.level]++;
      const key = `${e.level}: ${e.msg ?? ''}`;
      out.messages[key] = (out.messages[key] ?? 0) + 1;
    } catch {
      // Not a log entry.
    }
  }
  return out;
}

/**
 * Waits (at most 60 s) until the gateway at `origin` has written every usage record queued so far; returns how
 * long that took. A run's figures include those writes: a writer that falls behind would otherwise leave its
 * backlog, and the CPU it costs, to whatever runs next.
 */
export async function drainUsage(origin: string): Promise<number> {
  const from = performance.now();
  while (performance.now() - from < 60_000) {
    const body = (await (await fetch(`${origin}/readyz`)).json()) as { counters?: { usagePending?: number } };
    if ((body.counters?.usagePending ?? 0) === 0) break;
    await sleep(20);
  }
  return performance.now() - from;
}
