/**
 * `npm run bench:ab`: two builds of the gateway side by side, against one mock, PostgreSQL and Redis, in
 * interleaved rounds: how every change of the hot path was judged on a machine whose speed drifts by more
 * than most changes are worth. Build each variant into its own directory first (`npm run build` then copy
 * `dist/`), then:
 *
 *   AB_DIST=.distA,.distB AB_KINDS=sat,stream AB_SECONDS=5 AB_ROUNDS=4 npm run bench:ab
 *
 * AB_ENV0 / AB_ENV1 add environment to a variant (`REDIS_URL=` runs it on the in-process limit store),
 * AB_FLAGS0 / AB_FLAGS1 node flags. Kinds: sat (non-stream saturation), stream, paced (BENCH_RATE req/s), long (non-stream
 * saturation with a system prompt of BENCH_LONG_PROMPT_CHARS).
 * Prints per round and as medians: req/s, p50/p99, CPU µs per answer of the gateway, Redis and PostgreSQL.
 * Each round's CPU is measured until the gateway has written that round's usage records, so a writer that
 * falls behind pays for its backlog itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyEnvPairs, createDatabase, drainUsage, dropDatabase, gatewayEnv, START_FLAGS, waitReady } from './gateway.js';
import { paced, saturate, type LoadResult, type Req } from './load.js';
import { freePort, Meter, spawnNode, stopChild, type Child } from './procs.js';
import { requestVariants } from './seed.js';
import { buildHelpers, loadSettings, newSecretKey, probePostgres, probeRedis, startMockChild, writeSeed } from './setup.js';

interface Variant {
  name: string;
  child: Child;
  url: string;
}

const s = loadSettings();
const dists = (process.env.AB_DIST ?? 'dist').split(',').map((d) => d.trim());
const KINDS = ['sat', 'stream', 'paced', 'long'] as const;
type Kind = (typeof KINDS)[number];
const kinds = (process.env.AB_KINDS ?? 'sat').split(',').map((k) => k.trim()) as Kind[];
const unknownKind = kinds.find((k) => !KINDS.includes(k));
if (unknownKind !== undefined) throw new Error(`AB_KINDS: unknown kind "${unknownKind}" (${KINDS.join(', ')})`);
const seconds = Number(process.env.AB_SECONDS ?? s.seconds);
const rounds = Number(process.env.AB_ROUNDS ?? s.rounds);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'lyss-ab-'));
  const children: Child[] = [];
  const databases: string[] = [];
  try {
    const pg = await probePostgres(s.databaseServer);
    const redis = await probeRedis(s.redisUrl);
    if (!pg || !redis) throw new Error('bench:ab needs PostgreSQL and Redis');
    const helpers = await buildHelpers(workDir);
    const mock = await startMockChild(s, workDir, helpers.mock);
    children.push(mock.child);
    const { seed, configFile } = writeSeed(s, mock.ports, workDir);
    const variants: Variant[] = [];
    for (const [i, dist] of dists.entries()) {
      const dbName = `lyss_ab_${i}_${Date.now()}`;
      databases.push(dbName);
      const port = await freePort();
      const base = gatewayEnv({ port, databaseUrl: await createDatabase(s.databaseServer, dbName), redisUrl: s.redisUrl, secretKey: newSecretKey(), configFile, dataDir: path.join(workDir, `data${i}`) });
      const env = applyEnvPairs(base, process.env[`AB_ENV${i}`] ?? '');
      const flags = (process.env[`AB_FLAGS${i}`] ?? '').split(/\s+/).filter(Boolean);
      const child = spawnNode(`${i}:${dist}`, [...START_FLAGS, ...flags, path.join(dist, 'main.js')], { env, logFile: path.join(workDir, `gateway${i}.log`) });
      children.push(child);
      await waitReady(child, port, 180_000);
      variants.push({ name: child.name, child, url: `http://127.0.0.1:${port}/v1/chat/completions` });
    }
    const reqs: Record<Kind, Req[]> = {
      sat: requestVariants(seed.tokens, { stream: false }),
      paced: requestVariants(seed.tokens, { stream: false }),
      stream: requestVariants(seed.tokens, { stream: true }),
      long: requestVariants(seed.tokens, { stream: false, systemPromptChars: s.longPromptChars }),
    };
    const run = (kind: Kind, url: string, secs: number): Promise<LoadResult> =>
      kind === 'paced'
        ? paced({ url, rate: s.rate, seconds: secs, leadInSeconds: s.leadInSeconds, requests: reqs.paced, stream: false })
        : saturate({ url, connections: s.connections, seconds: secs, requests: reqs[kind], stream: kind === 'stream' });
    for (const v of variants) for (const kind of kinds) await run(kind, v.url, 5);

    for (const kind of kinds) {
      const rows = new Map<string, { rps: number[]; p50: number[]; p99: number[]; cpu: number[]; redis: number[]; pg: number[] }>();
      for (let r = 0; r < rounds; r++) {
        // Alternate the order so neither variant always runs first.
        const order = r % 2 === 0 ? variants : [...variants].reverse();
        for (const v of order) {
          const meter = new Meter();
          meter.track('gateway', v.child.pid);
          meter.start();
          const res = await run(kind, v.url, seconds);
          // The round's usage records are its work too: a writer that lags behind would otherwise leave its
          // backlog (and the PostgreSQL CPU it costs) to whichever variant runs next.
          const drainMs = await drainUsage(new URL(v.url).origin);
          const w = meter.stop();
          const per = (cpu: number | undefined) => ((cpu ?? 0) / Math.max(1, res.ok)) * 1e6;
          const row = rows.get(v.name) ?? { rps: [], p50: [], p99: [], cpu: [], redis: [], pg: [] };
          row.rps.push(res.rps);
          row.p50.push(res.p50);
          row.p99.push(res.p99);
          row.cpu.push(per(w.cpu.gateway));
          row.redis.push(per(w.cpu['redis-server']));
          row.pg.push(per(w.cpu.postgres));
          rows.set(v.name, row);
          const bad = res.non2xx + res.errors + res.mismatches;
          console.log(`${kind} r${r} ${v.name}: ${res.rps.toFixed(0)} req/s p50 ${res.p50.toFixed(3)} p99 ${res.p99.toFixed(3)} · µs/answer gateway ${per(w.cpu.gateway).toFixed(0)} redis ${per(w.cpu['redis-server']).toFixed(0)} pg ${per(w.cpu.postgres).toFixed(0)} · cores ${((w.cpu.gateway ?? 0) / w.seconds).toFixed(2)} · usage drained in ${drainMs.toFixed(0)} ms${bad ? ` · BAD ${bad}` : ''}`);
        }
      }
      for (const [name, row] of rows) {
        console.log(`== ${kind} ${name}: median ${median(row.rps).toFixed(0)} req/s, p50 ${median(row.p50).toFixed(3)} p99 ${median(row.p99).toFixed(3)} ms, µs/answer gateway ${median(row.cpu).toFixed(0)} redis ${median(row.redis).toFixed(0)} pg ${median(row.pg).toFixed(0)}`);
      }
    }
  } finally {
    for (const c of children.reverse()) await stopChild(c, 20_000).catch(() => {});
    for (const db of databases) await dropDatabase(s.databaseServer, db).catch(() => {});
    if (process.env.AB_KEEP !== "1") rmSync(workDir, { recursive: true, force: true });
    else console.log("work dir", workDir);
  }
}

await main();
