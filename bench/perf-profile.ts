/**
 * On-CPU profile of the whole machine under the non-stream saturation load, with Linux perf: where every
 * process's CPU goes (gateway, PostgreSQL, Redis, mock, load generator) and, inside the gateway, by function.
 * Unlike `node --cpu-prof` (bench/profile.ts), perf samples only while a thread runs, so a write that gets
 * the gateway descheduled (the kernel waking the reader on the same shared core) is not charged to it.
 * Needs `perf` (Debian: apt-get install linux-perf). `npm run build && node --import tsx bench/perf-profile.ts`
 * (BENCH_PROFILE_SECONDS, default 10). Prints the report; the raw perf.data stays with BENCH_KEEP_WORKDIR=1.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase, dropDatabase, spawnGateway, waitReady } from './gateway.js';
import { saturate } from './load.js';
import { freePort, stopChild, type Child } from './procs.js';
import { requestVariants } from './seed.js';
import { buildHelpers, loadSettings, newSecretKey, probePostgres, probeRedis, startMockChild, writeSeed } from './setup.js';

const s = loadSettings();
const stream = process.env.BENCH_PROFILE_STREAM === '1';
const workDir = mkdtempSync(path.join(os.tmpdir(), 'lyss-perf-'));
const children: Child[] = [];
let dbName: string | null = null;

try {
  const pg = await probePostgres(s.databaseServer);
  const redis = await probeRedis(s.redisUrl);
  const helpers = await buildHelpers(workDir);
  const mock = await startMockChild(s, workDir, helpers.mock);
  children.push(mock.child);
  const { seed, configFile } = writeSeed(s, mock.ports, workDir);
  let databaseUrl: string | null = null;
  if (pg) {
    dbName = `lyss_bench_perf_${Date.now()}`;
    databaseUrl = await createDatabase(s.databaseServer, dbName);
  }
  const port = await freePort();
  const gateway = spawnGateway(
    'gateway',
    { port, databaseUrl, redisUrl: redis ? s.redisUrl : null, secretKey: newSecretKey(), configFile, dataDir: path.join(workDir, 'data') },
    path.join(workDir, 'gateway.log'),
    ['--perf-basic-prof-only-functions'],
  );
  children.push(gateway);
  await waitReady(gateway, port, 180_000);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const requests = requestVariants(seed.tokens, { stream });
  await saturate({ url, connections: s.connections, seconds: Math.max(s.warmupSeconds, 5), requests, stream });
  const data = path.join(workDir, 'perf.data');
  const perf = spawn('perf', ['record', '-a', '-F', '997', '-e', 'cpu-clock', '-o', data, '--', 'sleep', String(s.profileSeconds)], { stdio: 'ignore' });
  const r = await saturate({ url, connections: s.connections, seconds: s.profileSeconds, requests, stream });
  await new Promise((done) => perf.once('exit', done));
  const report = (args: string[]) => execFileSync('perf', ['report', '-i', data, '--stdio', '--no-children', ...args], { maxBuffer: 256 << 20 }).toString();
  process.stdout.write(`load: ${r.rps.toFixed(0)} req/s over ${r.seconds.toFixed(1)} s, errors ${r.non2xx}/${r.errors}; gateway pid ${gateway.pid}\n\n`);
  process.stdout.write(report(['--sort', 'comm', '-g', 'none']).split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 15).join('\n') + '\n\n');
  process.stdout.write(report(['--pid', String(gateway.pid), '--sort', 'sym', '-g', 'none']).split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 70).join('\n') + '\n\n');
  process.stdout.write(report(['--pid', String(gateway.pid), '--sort', 'dso', '-g', 'none']).split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 20).join('\n') + '\n');
  if (process.env.BENCH_KEEP_WORKDIR === '1') process.stderr.write(`perf data kept: ${data} (gateway pid ${gateway.pid})\n`);
} finally {
  for (const c of children.reverse()) await stopChild(c, 20_000).catch(() => {});
  if (dbName && !s.keepDatabase) await dropDatabase(s.databaseServer, dbName).catch(() => {});
  if (process.env.BENCH_KEEP_WORKDIR !== '1') rmSync(workDir, { recursive: true, force: true });
}
