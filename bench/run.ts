/**
 * `npm run bench`: the mock upstream, the bare proxy and the real gateway (dist/main.js, every feature on:
 * PostgreSQL, Redis, LYSS_CONFIG's 3 tenants / 50 channels / 1,000 tokens) in separate processes, driven in
 * interleaved rounds; then open streams, cold start, the usage-row check, the gateway with the default LYSS_WORKERS
 * (one worker per core) and the two-process limits check.
 * Prints one markdown table and writes bench/results/latest.md and latest.json. Missed targets print FAIL;
 * they never fail the process (a benchmark reports, it does not test). Durations: see README (BENCH_* env).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase, drainUsage, dropDatabase, spawnGateway, summarizeLog, waitReady, waitWorkers, type GatewayEnv } from './gateway.js';
import { firstSuccess, openStreams, paced, saturate, type LoadResult, type Req } from './load.js';
import { freePort, Meter, ROOT, rssBytes, sleep, spawnHelper, stopChild, type Child, type Window } from './procs.js';
import {
  checkTargets,
  medianRun,
  renderMarkdown,
  TARGETS,
  type BenchReport,
  type RunFigures,
  type Scenario,
  type SideRun,
  type StreamsRun,
  type Target,
  type TenantsRun,
  type WorkersRun,
} from './report.js';
import { runScale, type ScaleResult } from './scale.js';
import { requestVariants } from './seed.js';
import { buildHelpers, childEnv, fdLimit, loadSettings, newSecretKey, probePostgres, probeRedis, startMockChild, writeSeed } from './setup.js';
import { compareUsage, readUsageRows, type UsageRows } from './usage-check.js';
import { warmUntilSteady } from './warm-up.js';

const MB = 1024 * 1024;
/** Each bench request records its user message and the answer (the system prompt goes on the conversation). */
const MESSAGES_PER_REQUEST = 2;

const s = loadSettings();
const began = performance.now();
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);

const workDir = mkdtempSync(path.join(os.tmpdir(), 'lyss-bench-'));
const children: Child[] = [];
/** Databases this run created, dropped at the end. */
const databases: string[] = [];

async function main(): Promise<void> {
  log(`work dir ${workDir}`);
  const fds = fdLimit();
  if (fds < s.openStreams * 2 + 1000) log(`WARNING: open-file limit ${fds} is low for ${s.openStreams} streams; raise it (ulimit -n) before running`);

  // Services: real PostgreSQL and Redis when they answer, else the embedded defaults, marked in the output.
  const fallback: string[] = [];
  const pgVersion = await probePostgres(s.databaseServer);
  const redisVersion = await probeRedis(s.redisUrl);
  if (!pgVersion) fallback.push(`PostgreSQL unreachable at ${s.databaseServer}: the gateway runs on embedded PGlite`);
  if (!redisVersion) fallback.push(`Redis unreachable at ${s.redisUrl}: the gateway runs on the in-process limits store`);
  for (const f of fallback) log(`FALLBACK: ${f}`);

  const loadStart = os.loadavg();
  const helpers = await buildHelpers(workDir);
  const mock = await startMockChild(s, workDir, helpers.mock);
  children.push(mock.child);
  const { child: bare, ready: bareReady } = await spawnHelper<{ port: number }>('bare', helpers.bare, {
    env: childEnv({ BARE_TARGET: `http://127.0.0.1:${mock.ports[0]}` }),
    logFile: path.join(workDir, 'bare.log'),
  });
  children.push(bare);
  const { seed, configFile } = writeSeed(s, mock.ports, workDir);
  log(`mock on ports ${mock.ports.join(',')}; bare proxy on ${bareReady.port}; seed: ${s.tenants} tenants, ${seed.channels} channels, ${seed.tokens.length} tokens`);

  let databaseUrl: string | null = null;
  if (pgVersion) {
    const name = `lyss_bench_${Date.now()}`;
    databases.push(name);
    databaseUrl = await createDatabase(s.databaseServer, name);
  }
  const gwBase: Omit<GatewayEnv, 'port'> = {
    databaseUrl,
    redisUrl: redisVersion ? s.redisUrl : null,
    secretKey: newSecretKey(),
    configFile,
    dataDir: path.join(workDir, 'data'),
    workers: 1,
  };
  const gwPort = await freePort();
  const bootStart = performance.now();
  const gateway = spawnGateway('gateway', { ...gwBase, port: gwPort }, path.join(workDir, 'gateway.log'));
  children.push(gateway);
  await waitReady(gateway, gwPort, 180_000);
  const firstBootMs = performance.now() - bootStart;
  log(`gateway ready on ${gwPort} after ${firstBootMs.toFixed(0)} ms (first boot: migrations + seeding)`);

  const meter = new Meter();
  meter.track('gateway', gateway.pid);
  meter.track('mock', mock.child.pid);
  meter.track('bare', bare.pid);
  const PROC: Record<Target, string> = { direct: 'mock', bare: 'bare', gateway: 'gateway' };
  const URL_OF: Record<Target, string> = {
    direct: `http://127.0.0.1:${mock.ports[0]}/v1/chat/completions`,
    bare: `http://127.0.0.1:${bareReady.port}/v1/chat/completions`,
    gateway: `http://127.0.0.1:${gwPort}/v1/chat/completions`,
  };
  const jsonReqs = requestVariants(seed.tokens, { stream: false });
  const longReqs = requestVariants(seed.tokens, { stream: false, systemPromptChars: s.longPromptChars });
  const streamReqs = requestVariants(seed.tokens, { stream: true });
  const slowReqs = requestVariants(seed.tokens, { stream: true, slow: { chunks: s.slowChunks, delayMs: s.slowDelayMs } });

  // Every 2xx the gateway completed must have its usage row: count them all, warm-up included.
  let served = 0;
  let clientUsage = 0;
  const account = (target: Target, r: { ok: number; mismatches?: number; incomplete?: number; usage: number }) => {
    if (target !== 'gateway') return;
    served += r.ok + (r.mismatches ?? 0) + (r.incomplete ?? 0);
    clientUsage += r.usage;
  };

  /** A run's figures, `proc` being the meter's name for the serving process. */
  const figures = (proc: string, r: LoadResult, w: Window): RunFigures => {
    const cpu = Object.fromEntries(Object.entries(w.cpu).map(([k, v]) => [k, v / w.seconds]));
    const perAnswer = (seconds: number | undefined) => ((seconds ?? NaN) / (r.ok + r.mismatches)) * 1e6;
    return {
      ...r,
      cores: cpu[proc] ?? NaN,
      cpuUsPerRequest: perAnswer(w.cpu[proc]),
      systemUsPerRequest: perAnswer(w.system[proc]),
      cpu,
      peakRssMb: (w.peakRss[proc] ?? NaN) / MB,
    };
  };
  const measured = async (target: Target, run: () => Promise<LoadResult>): Promise<RunFigures> => {
    meter.start();
    const r = await run();
    if (target === 'gateway') {
      const ms = await drainUsage(new URL(URL_OF.gateway).origin);
      if (ms > 200) log(`  the gateway's usage queue took ${ms.toFixed(0)} ms to drain after the run`);
    }
    const w = meter.stop();
    account(target, r);
    return figures(PROC[target], r, w);
  };

  log(`warm-up: ${s.warmupSeconds} s non-stream + ${s.warmupSeconds} s stream per target`);
  for (const t of TARGETS) {
    account(t, await saturate({ url: URL_OF[t], connections: s.connections, seconds: s.warmupSeconds, requests: jsonReqs, stream: false }));
    account(t, await saturate({ url: URL_OF[t], connections: s.connections, seconds: s.warmupSeconds, requests: streamReqs, stream: true }));
  }

  // Open streams, right after the warm-up (so the gateway's RSS is that of a warm process holding the streams,
  // not of the heap the saturation rounds grew): bare proxy first (the floor), then the gateway.
  const streamsRun = async (target: 'bare' | 'gateway', port: number, pid: number): Promise<StreamsRun> => {
    await fetch(`http://127.0.0.1:${mock.ports[0]}/__reset-peaks`).then((r) => r.text());
    const rssBeforeMb = (rssBytes(pid) ?? NaN) / MB;
    meter.start();
    const r = await openStreams({ port, path: '/v1/chat/completions', count: s.openStreams, rampMs: s.openStreamsRampMs, requests: slowReqs, timeoutMs: 120_000 });
    const w = meter.stop();
    account(target, { ok: r.ok, incomplete: r.incomplete, usage: r.usage });
    await sleep(1000);
    const cpuSeconds = w.cpu[PROC[target]] ?? NaN;
    const run: StreamsRun = { ...r, peakRssMb: (w.peakRss[PROC[target]] ?? NaN) / MB, cpuSeconds, cores: cpuSeconds / w.seconds, rssBeforeMb, rssAfterMb: (rssBytes(pid) ?? NaN) / MB };
    log(`open streams ${target}: ${r.ok}/${r.requested} ok, peak open ${r.peakOpen}, errors ${r.non2xx}/${r.errors}/${r.incomplete}, ` +
      `${Object.keys(r.errorKinds).length ? `(${JSON.stringify(r.errorKinds)}) ` : ''}ttfb p99 ${r.ttfbP99.toFixed(0)} ms, peak RSS ${run.peakRssMb.toFixed(0)} MB, cpu ${cpuSeconds.toFixed(1)} s`);
    return run;
  };
  const bareStreams = await streamsRun('bare', bareReady.port, bare.pid);
  const gatewayStreams = await streamsRun('gateway', gwPort, gateway.pid);
  const mockStats = (await fetch(`http://127.0.0.1:${mock.ports[0]}/__stats`).then((r) => r.json())) as { peakSockets: number[]; fromGateway: number };
  // Port 0 carries the direct and bare-proxy traffic; the others only the gateway's channels.
  const upstreamPeak = Math.max(...mockStats.peakSockets.slice(mock.ports.length > 1 ? 1 : 0));

  const scenarios = {
    nonStream: { title: `non-stream, ${s.connections} connections (saturation)`, run: (t: Target) => saturate({ url: URL_OF[t], connections: s.connections, seconds: s.seconds, requests: jsonReqs, stream: false }) },
    longPrompt: {
      title: `non-stream, ${s.connections} connections, a ${(s.longPromptChars / 1000).toLocaleString('en-US')} k-character system prompt (saturation)`,
      run: (t: Target) => saturate({ url: URL_OF[t], connections: s.connections, seconds: s.seconds, requests: longReqs, stream: false }),
    },
    stream: { title: `stream, ${s.streamChunks} chunks, ${s.connections} connections (saturation)`, run: (t: Target) => saturate({ url: URL_OF[t], connections: s.connections, seconds: s.seconds, requests: streamReqs, stream: true }) },
    paced: {
      title: `non-stream at a fixed ${s.rate} req/s (latency${s.leadInSeconds ? `, after a ${s.leadInSeconds} s lead-in at that rate` : ''})`,
      run: (t: Target) => paced({ url: URL_OF[t], rate: s.rate, seconds: s.seconds, leadInSeconds: s.leadInSeconds, requests: jsonReqs, stream: false }),
    },
  };
  type Key = keyof typeof scenarios;
  const rounds: Record<Key, Record<Target, RunFigures[]>> = {
    nonStream: { direct: [], bare: [], gateway: [] },
    longPrompt: { direct: [], bare: [], gateway: [] },
    stream: { direct: [], bare: [], gateway: [] },
    paced: { direct: [], bare: [], gateway: [] },
  };
  for (let round = 1; round <= s.rounds; round++) {
    for (const key of Object.keys(scenarios) as Key[]) {
      for (const t of TARGETS) {
        const fig = await measured(t, () => scenarios[key].run(t));
        rounds[key][t].push(fig);
        log(`round ${round} ${key.padEnd(9)} ${t.padEnd(7)} ${fig.rps.toFixed(0).padStart(6)} req/s  p50 ${fig.p50.toFixed(3)} ms  p99 ${fig.p99.toFixed(3)} ms  ` +
          `cpu ${fig.cores.toFixed(2)} (${fig.cpuUsPerRequest.toFixed(0)} µs/req)  rss ${fig.peakRssMb.toFixed(0)} MB  errors ${fig.non2xx}/${fig.errors}/${fig.mismatches}/${fig.unanswered}`);
      }
    }
  }
  const scenario = (key: Key): Scenario => ({
    title: scenarios[key].title,
    rounds: rounds[key],
    median: { direct: medianRun(rounds[key].direct), bare: medianRun(rounds[key].bare), gateway: medianRun(rounds[key].gateway) },
  });

  // SIGTERM drains and flushes the usage queue; exit 0 means the flush finished.
  const code = await stopChild(gateway, 60_000);
  meter.untrack('gateway');
  const gatewayLog = summarizeLog(gateway.logFile);
  log(`gateway stopped (exit ${code}); its log: ${gatewayLog.warn} warnings, ${gatewayLog.error} errors`);
  const readRows = () => readUsageRows(databaseUrl ? { databaseUrl } : { pgliteDir: gwBase.dataDir });
  const rowsAfterLoad = await readRows();
  const mockAfterLoad = (await fetch(`http://127.0.0.1:${mock.ports[0]}/__stats`).then((r) => r.json())) as { fromGateway: number };
  const loadUsage = { ...compareUsage(rowsAfterLoad, served, clientUsage, MESSAGES_PER_REQUEST), mockCallsFromGateway: mockAfterLoad.fromGateway };
  log(`usage check after load: served ${served}, assistant rows ${rowsAfterLoad.assistantRows}, ${loadUsage.pass ? 'all match' : loadUsage.problems.join('; ')}`);
  const servedBeforeProbes = served;
  const usageBeforeProbes = clientUsage;

  // Cold start: a new process on the seeded database, to the first successful chat completion.
  const startupMsLogged: (number | null)[] = [];
  const coldStart = async (withConfig: boolean): Promise<number> => {
    const port = await freePort();
    const logFile = path.join(workDir, `cold-${withConfig ? 'config' : 'noconfig'}.log`);
    const since = performance.now();
    const child = spawnGateway(`cold-start`, { ...gwBase, port, configFile: withConfig ? configFile : null }, logFile);
    children.push(child);
    try {
      const r = await firstSuccess({ url: `http://127.0.0.1:${port}/v1/chat/completions`, request: jsonReqs[1]!, since, timeoutMs: 120_000 });
      served += 1;
      clientUsage += r.usage;
      return r.ms;
    } finally {
      await stopChild(child, 30_000);
      const m = /"startupMs":(\d+)/.exec(readFileSync(logFile, 'utf8'));
      startupMsLogged.push(m ? Number(m[1]) : null);
    }
  };
  const withConfigMs = await coldStart(true);
  const withoutConfigMs = await coldStart(false);
  log(`cold start: ${withConfigMs.toFixed(0)} ms with LYSS_CONFIG, ${withoutConfigMs.toFixed(0)} ms without`);

  // The probes are answered and the process is sent SIGTERM at once: does a record survive that?
  const rowsFinal = await readRows();
  const probes = {
    served: served - servedBeforeProbes,
    rowsAdded: rowsFinal.assistantRows - rowsAfterLoad.assistantRows,
    usage: clientUsage - usageBeforeProbes,
    usageAdded: rowsFinal.tokenUsed - rowsAfterLoad.tokenUsed,
    pass: false,
  };
  probes.pass = probes.rowsAdded === probes.served && probes.usageAdded === probes.usage;
  log(`usage check, SIGTERM right after an answer: ${probes.rowsAdded}/${probes.served} rows`);
  const usage = { load: loadUsage, sigtermRightAfterAnswer: probes };

  /**
   * A second gateway beside the main one, on the same mock (see `SideRun`): warmed up, then rounds of the bare
   * proxy right before it, non-stream at saturation and, with `paced`, at the fixed rate; its usage rows
   * (read through `rows`, before and after) checked against what it served.
   */
  const sideGateway = async (spec: {
    name: string;
    env: Omit<GatewayEnv, 'port'>;
    requests: Req[];
    rows: () => Promise<UsageRows>;
    /** Workers to wait for (a cluster primary's), measured as one tree of processes. */
    workers?: number;
    paced?: boolean;
  }): Promise<SideRun> => {
    const port = await freePort();
    const child = spawnGateway(spec.name, { ...spec.env, port }, path.join(workDir, `${spec.name.replaceAll(' ', '-')}.log`));
    children.push(child);
    await waitReady(child, port, 180_000);
    if (spec.workers) log(`${spec.name}: ${(await waitWorkers(child, spec.workers, 120_000)).length} workers ready on ${port}`);
    // Read once it is ready: a database of its own is migrated only then.
    const rowsBefore = await spec.rows();
    meter.track(spec.name, child.pid, { tree: spec.workers !== undefined });
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    let servedHere = 0;
    let usageHere = 0;
    const run = async (load: () => Promise<LoadResult>): Promise<RunFigures> => {
      meter.start();
      const r = await load();
      const fig = figures(spec.name, r, meter.stop());
      servedHere += r.ok + r.mismatches;
      usageHere += r.usage;
      return fig;
    };
    const nonStream = (seconds: number) => run(() => saturate({ url, connections: s.connections, seconds, requests: spec.requests, stream: false }));
    // Here ~8 s of saturation for one process, ~18 s for two (each worker fills its own caches).
    const warmupSeconds = await warmUntilSteady(s.warmupSeconds, async () => (await nonStream(s.warmupSeconds)).cpuUsPerRequest);
    log(`${spec.name}: warmed up for ${warmupSeconds} s`);
    const rounds: SideRun['rounds'] = { bare: [], gateway: [], ...(spec.paced ? { paced: [] } : {}) };
    const line = (f: RunFigures) =>
      `${f.rps.toFixed(0)} req/s  p50 ${f.p50.toFixed(3)} ms  p99 ${f.p99.toFixed(3)} ms  cpu ${f.cores.toFixed(2)} (${f.cpuUsPerRequest.toFixed(0)} µs/req, ` +
      `postgres ${(((f.cpu['postgres'] ?? NaN) / f.rps) * 1e6).toFixed(0)})  rss ${f.peakRssMb.toFixed(0)} MB  errors ${f.non2xx}/${f.errors}/${f.mismatches}/${f.unanswered}`;
    for (let round = 1; round <= s.rounds; round++) {
      // The bare proxy right before, so the ratio compares figures of the same minute.
      rounds.bare.push(await measured('bare', () => scenarios.nonStream.run('bare')));
      rounds.gateway.push(await nonStream(s.seconds));
      log(`round ${round} ${spec.name}: bare ${rounds.bare.at(-1)!.rps.toFixed(0)} req/s, gateway ${line(rounds.gateway.at(-1)!)}`);
      if (rounds.paced) {
        rounds.paced.push(await run(() => paced({ url, rate: s.rate, seconds: s.seconds, leadInSeconds: s.leadInSeconds, requests: spec.requests, stream: false })));
        log(`round ${round} ${spec.name} at ${s.rate} req/s: ${line(rounds.paced.at(-1)!)}`);
      }
    }
    const exitCode = await stopChild(child, 60_000);
    meter.untrack(spec.name);
    const rowsAfter = await spec.rows();
    const added: UsageRows = { ...rowsAfter };
    for (const k of Object.keys(added) as (keyof UsageRows)[]) added[k] -= rowsBefore[k];
    const check = compareUsage(added, servedHere, usageHere, MESSAGES_PER_REQUEST);
    log(`${spec.name} stopped (exit ${exitCode}); usage rows ${added.assistantRows}/${servedHere}, ${check.pass ? 'all match' : check.problems.join('; ')}`);
    return {
      warmupSeconds,
      rounds,
      median: { bare: medianRun(rounds.bare), gateway: medianRun(rounds.gateway), ...(rounds.paced ? { paced: medianRun(rounds.paced) } : {}) },
      log: { exitCode, ...summarizeLog(child.logFile) },
      usage: check,
    };
  };

  // The default LYSS_WORKERS (one cluster worker per core), on the same database: what a whole machine serves.
  // Several processes need shared state, so the embedded default always runs one and there is nothing to add.
  const defaultWorkers = async (): Promise<WorkersRun> => {
    const workers = os.availableParallelism();
    const side = await sideGateway({ name: 'gateway workers', env: { ...gwBase, workers: 0 }, requests: jsonReqs, rows: readRows, workers });
    return { workers, ...side };
  };

  // The same one process on a table of many tenants, in a database of its own: each usage batch then holds
  // records of most tenants, which the 3-tenant table never shows.
  const manyTenants = async (): Promise<TenantsRun> => {
    const size = { tenants: s.manyTenants, channels: Math.max(s.channels, 2 * s.manyTenants), tokens: s.tokens };
    const { seed: wide, configFile: wideConfig } = writeSeed(size, mock.ports, workDir, 'lyss-config-tenants.json');
    const name = `lyss_bench_tenants_${Date.now()}`;
    databases.push(name);
    const url = await createDatabase(s.databaseServer, name);
    log(`${size.tenants} tenants: ${wide.channels} channels, ${wide.tokens.length} tokens`);
    const side = await sideGateway({
      name: 'gateway tenants',
      env: { ...gwBase, databaseUrl: url, configFile: wideConfig, dataDir: path.join(workDir, 'data-tenants') },
      requests: requestVariants(wide.tokens, { stream: false }),
      rows: () => readUsageRows({ databaseUrl: url }),
      paced: true,
    });
    return { tenants: size.tenants, channels: wide.channels, tokens: wide.tokens.length, ...side };
  };

  let workers: WorkersRun | { skipped: string };
  if (process.env.BENCH_SKIP_WORKERS === '1') workers = { skipped: 'BENCH_SKIP_WORKERS=1' };
  else if (!databaseUrl || !redisVersion) workers = { skipped: 'the embedded fallback runs exactly one process (several need PostgreSQL and Redis)' };
  else workers = await defaultWorkers();

  let tenants: TenantsRun | { skipped: string };
  if (s.manyTenants === 0) tenants = { skipped: 'BENCH_MANY_TENANTS=0' };
  else if (!databaseUrl) tenants = { skipped: 'needs PostgreSQL (the embedded fallback has one database, the main table\'s)' };
  else tenants = await manyTenants();

  let scale: ScaleResult | { skipped: string };
  if (s.skipScale) scale = { skipped: 'BENCH_SKIP_SCALE=1' };
  else if (!pgVersion || !redisVersion) scale = { skipped: 'needs real PostgreSQL and Redis (one of them is unreachable)' };
  else {
    log(`two processes: rate limit ${s.scaleRateLimit}/min and quota ${s.scaleQuota} across both`);
    scale = await runScale({ pgServerUrl: s.databaseServer, redisUrl: s.redisUrl, mockPorts: mock.ports, workDir, secretKey: newSecretKey(), limit: s.scaleRateLimit, quota: s.scaleQuota, keepDatabase: s.keepDatabase });
    log(`two processes: rate ${scale.rate.admitted}/${scale.rate.sent} admitted (limit ${scale.rate.limit}), quota used ${scale.quota.usedInPostgres}/${scale.quota.quota}`);
  }

  const base: Omit<BenchReport, 'targets' | 'elapsedSeconds'> = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryGb: Math.round(os.totalmem() / 1024 ** 3),
      node: process.versions.node,
      fdLimit: String(fds),
      loadAverageStart: loadStart,
      loadAverageEnd: os.loadavg(),
    },
    backends: {
      database: pgVersion ? `PostgreSQL ${pgVersion}` : 'embedded PGlite (fallback)',
      store: redisVersion ? `Redis ${redisVersion}` : 'in-process store (fallback)',
      fallback,
    },
    settings: {
      seconds: s.seconds,
      rounds: s.rounds,
      warmupSeconds: s.warmupSeconds,
      connections: s.connections,
      rate: s.rate,
      streamChunks: s.streamChunks,
      openStreams: s.openStreams,
      slowChunks: s.slowChunks,
      slowDelayMs: s.slowDelayMs,
      openStreamsRampMs: s.openStreamsRampMs,
      mockPorts: s.mockPorts,
      tenants: s.tenants,
      channels: seed.channels,
      tokens: seed.tokens.length,
    },
    firstBootMs,
    scenarios: { nonStream: scenario('nonStream'), longPrompt: scenario('longPrompt'), stream: scenario('stream'), paced: scenario('paced') },
    openStreams: { bare: bareStreams, gateway: gatewayStreams, upstreamPeakSocketsPerOrigin: upstreamPeak, origins: Math.max(1, mock.ports.length - 1) },
    coldStart: { withConfigMs, withoutConfigMs, startupMsLogged },
    gatewayLog: { exitCode: code, ...gatewayLog },
    usage,
    workers,
    manyTenants: tenants,
    scale,
  };
  const report: BenchReport = { ...base, targets: checkTargets(base), elapsedSeconds: (performance.now() - began) / 1000 };
  const md = renderMarkdown(report);
  const outDir = process.env.BENCH_OUT_DIR ? path.resolve(process.env.BENCH_OUT_DIR) : path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'latest.md'), md);
  writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(md + '\n');
  log(`written ${path.relative(ROOT, outDir) || '.'}/latest.md and latest.json`);
}

async function cleanup(): Promise<void> {
  for (const c of children.reverse()) await stopChild(c, 20_000).catch(() => {});
  if (!s.keepDatabase) {
    for (const name of databases) await dropDatabase(s.databaseServer, name).catch((err) => log(`could not drop ${name}: ${String(err)}`));
  }
  if (process.env.BENCH_KEEP_WORKDIR !== '1') rmSync(workDir, { recursive: true, force: true });
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  log(`bench aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  log(`logs kept in ${workDir}`);
  process.env.BENCH_KEEP_WORKDIR = '1';
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
