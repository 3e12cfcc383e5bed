/**
 * The stack the profilers run under load: the mock, PostgreSQL and Redis when reachable, the seeded table,
 * and one gateway started with extra node flags (the profiler's, then BENCH_GATEWAY_FLAGS, e.g.
 * `--max-semi-space-size=16` to see what a V8 setting does; BENCH_GATEWAY_ENV adds `K=V` settings to its
 * environment). `stop()` takes it all down again (the work dir
 * stays with BENCH_KEEP_WORKDIR=1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase, dropDatabase, spawnGateway, waitReady } from './gateway.js';
import { cpuSeconds, freePort, stopChild, type Child } from './procs.js';
import { saturate, type Req } from './load.js';
import { warmUntilSteady } from './warm-up.js';
import type { Seed } from './seed.js';
import { buildHelpers, loadSettings, newSecretKey, probePostgres, probeRedis, startMockChild, writeSeed, type Settings } from './setup.js';

export interface ProfileStack {
  s: Settings;
  workDir: string;
  /** Server versions, or null when the fallback (PGlite, in-process store) is used. */
  pg: string | null;
  redis: string | null;
  seed: Seed;
  gateway: Child;
  /** performance.now() when the gateway was spawned. */
  spawnedAt: number;
  url: string;
  stop(): Promise<void>;
}

/** `nodeArgs` gets the work dir, for flags that write files there; `env` (K=V pairs) goes before BENCH_GATEWAY_ENV. */
export async function startProfileStack(name: string, nodeArgs: (workDir: string) => string[], env = ''): Promise<ProfileStack> {
  const s = loadSettings();
  const workDir = mkdtempSync(path.join(os.tmpdir(), `lyss-${name}-`));
  const children: Child[] = [];
  let dbName: string | null = null;
  const stop = async () => {
    for (const c of children.reverse()) await stopChild(c, 20_000).catch(() => {});
    if (dbName && !s.keepDatabase) await dropDatabase(s.databaseServer, dbName).catch(() => {});
    if (process.env.BENCH_KEEP_WORKDIR !== '1') rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const pg = await probePostgres(s.databaseServer);
    const redis = await probeRedis(s.redisUrl);
    const helpers = await buildHelpers(workDir);
    const mock = await startMockChild(s, workDir, helpers.mock);
    children.push(mock.child);
    const { seed, configFile } = writeSeed(s, mock.ports, workDir);
    let databaseUrl: string | null = null;
    if (pg) {
      dbName = `lyss_bench_${name.replace(/\W/g, '_')}_${Date.now()}`;
      databaseUrl = await createDatabase(s.databaseServer, dbName);
    }
    const port = await freePort();
    const args = [...nodeArgs(workDir), ...(process.env.BENCH_GATEWAY_FLAGS ?? '').split(/\s+/).filter(Boolean)];
    const spawnedAt = performance.now();
    const gateway = spawnGateway(
      'gateway',
      { port, databaseUrl, redisUrl: redis ? s.redisUrl : null, secretKey: newSecretKey(), configFile, dataDir: path.join(workDir, 'data') },
      path.join(workDir, 'gateway.log'),
      args,
      `${env} ${process.env.BENCH_GATEWAY_ENV ?? ''}`,
    );
    children.push(gateway);
    await waitReady(gateway, port, 180_000);
    return { s, workDir, pg, redis, seed, gateway, spawnedAt, url: `http://127.0.0.1:${port}/v1/chat/completions`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Warms the stack's gateway up under the saturation load (the caches a profile must not show filling), in
 * slices until its CPU per answer stops falling; returns the seconds spent.
 */
export function warmUp(stack: ProfileStack, requests: readonly Req[], stream: boolean): Promise<number> {
  const { s, gateway, url } = stack;
  return warmUntilSteady(s.warmupSeconds, async () => {
    const cpuBefore = cpuSeconds(gateway.pid) ?? 0;
    const w = await saturate({ url, connections: s.connections, seconds: s.warmupSeconds, requests, stream });
    return (((cpuSeconds(gateway.pid) ?? 0) - cpuBefore) * 1e6) / Math.max(1, w.ok);
  });
}
