/**
 * Profiles the gateway under the non-stream saturation load: the same stack as run.ts (mock, PostgreSQL,
 * Redis, the seeded table), the gateway started with `node --cpu-prof`, then SIGTERM (which writes the
 * profile) and a summary of self and total time by function and package, written to
 * bench/results/profile-latest.md. The .cpuprofile stays in a temporary folder (never committed); set
 * BENCH_KEEP_WORKDIR=1 to keep it for a flame graph (e.g. load it in Chrome DevTools or speedscope).
 * `npm run build && node --import tsx bench/profile.ts` (BENCH_PROFILE_SECONDS, default 10).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderSummary, summarize } from './cpuprofile-summary.js';
import { createDatabase, dropDatabase, spawnGateway, waitReady } from './gateway.js';
import { saturate } from './load.js';
import { freePort, ROOT, stopChild, type Child } from './procs.js';
import { requestVariants } from './seed.js';
import { buildHelpers, loadSettings, newSecretKey, probePostgres, probeRedis, startMockChild, writeSeed } from './setup.js';

const s = loadSettings();
const workDir = mkdtempSync(path.join(os.tmpdir(), 'lyss-profile-'));
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
    dbName = `lyss_bench_profile_${Date.now()}`;
    databaseUrl = await createDatabase(s.databaseServer, dbName);
  }
  const port = await freePort();
  const spawnedAt = performance.now();
  const profDir = path.join(workDir, 'prof');
  mkdirSync(profDir);
  const gateway = spawnGateway(
    'gateway',
    { port, databaseUrl, redisUrl: redis ? s.redisUrl : null, secretKey: newSecretKey(), configFile, dataDir: path.join(workDir, 'data') },
    path.join(workDir, 'gateway.log'),
    ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
  );
  children.push(gateway);
  await waitReady(gateway, port, 180_000);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const requests = requestVariants(seed.tokens, { stream: false });
  await saturate({ url, connections: s.connections, seconds: s.warmupSeconds, requests, stream: false });
  const loadFrom = performance.now() - spawnedAt;
  const r = await saturate({ url, connections: s.connections, seconds: s.profileSeconds, requests, stream: false });
  const loadTo = performance.now() - spawnedAt;
  await stopChild(gateway, 60_000);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
  // The profile starts with the process (give or take Node's own boot): keep only the measured load.
  const summary = summarize(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')), ROOT, { fromMs: loadFrom, toMs: loadTo });
  const md = [
    `# Gateway CPU profile: non-stream saturation`,
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · Node ${process.versions.node} · ` +
      `${pg ? `PostgreSQL ${pg}` : 'PGlite (fallback)'} · ${redis ? `Redis ${redis}` : 'in-process store (fallback)'} · load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    '',
    `Load while profiling (warm-up excluded): ${s.connections} connections, ${r.seconds.toFixed(1)} s, ${r.rps.toFixed(0)} req/s, ` +
      `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.non2xx}/${r.errors}/${r.mismatches}. Only that window of the profile is summarised (boot, seeding and warm-up excluded).`,
    '',
    renderSummary(summary, 30),
    '',
  ].join('\n');
  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'profile-latest.md'), md);
  process.stdout.write(md);
  if (process.env.BENCH_KEEP_WORKDIR === '1') process.stderr.write(`profile kept: ${path.join(profDir, file)}\n`);
} finally {
  for (const c of children.reverse()) await stopChild(c, 20_000).catch(() => {});
  if (dbName && !s.keepDatabase) await dropDatabase(s.databaseServer, dbName).catch(() => {});
  if (process.env.BENCH_KEEP_WORKDIR !== '1') rmSync(workDir, { recursive: true, force: true });
}
