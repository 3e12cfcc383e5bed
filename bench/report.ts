/** The bench's results: their shape, the medians, the targets of issue 6, and the markdown table. */
import type { LoadResult, StreamsResult } from './load.js';
import type { LogSummary } from './gateway.js';
import type { ScaleResult } from './scale.js';
import type { UsageCheck } from './usage-check.js';

export type Target = 'direct' | 'bare' | 'gateway';
export const TARGETS: readonly Target[] = ['direct', 'bare', 'gateway'];
const LABEL: Record<Target, string> = { direct: 'direct mock', bare: 'bare proxy', gateway: 'gateway' };

export interface RunFigures extends LoadResult {
  /** CPU of the process serving (mock for direct, proxy, gateway), in cores (CPU seconds per second). */
  cores: number;
  /**
   * CPU microseconds the serving process spent per answer: the figure least bent by a shared machine
   * (throughput and latency depend on how much CPU the process was given; this does not).
   */
  cpuUsPerRequest: number;
  /** Of `cpuUsPerRequest`, the kernel's share: system calls and the loopback network stack. */
  systemUsPerRequest: number;
  /** CPU per process during the run, in cores (gateway, mock, bare, postgres, redis-server, load generator). */
  cpu: Record<string, number>;
  /** Peak RSS of the serving process, MB. */
  peakRssMb: number;
}

export interface Scenario {
  title: string;
  rounds: Record<Target, RunFigures[]>;
  median: Record<Target, RunFigures>;
}

export interface StreamsRun extends StreamsResult {
  peakRssMb: number;
  cpuSeconds: number;
  cores: number;
  /** RSS just before the streams opened, and a second after they all ended. */
  rssBeforeMb: number;
  rssAfterMb: number;
}

/**
 * A gateway measured beside the main table's, on the same mock (run.ts `sideGateway`): warmed up, then rounds in
 * which the bare proxy runs right before it, non-stream at saturation and, for some, at the fixed rate. No
 * throughput or latency target of its own; its errors and lost usage rows count against the targets.
 */
export interface SideRun {
  /** Non-stream saturation before the rounds: slices of the warm-up time until the CPU per answer stopped falling. */
  warmupSeconds: number;
  /** Each round measures the bare proxy right before the gateway, so each ratio is taken within the same minute. */
  rounds: { bare: RunFigures[]; gateway: RunFigures[]; paced?: RunFigures[] };
  median: { bare: RunFigures; gateway: RunFigures; paced?: RunFigures };
  /** Its log (primary and workers) and the primary's exit code on SIGTERM. */
  log: LogSummary & { exitCode: number | string };
  /** The rows it added in PostgreSQL (read after SIGTERM) against the 2xx answers it served, warm-up included. */
  usage: UsageCheck;
}

/** The default LYSS_WORKERS (a cluster primary and one worker per core); CPU and RSS summed over them all. */
export interface WorkersRun extends SideRun {
  /** Workers the primary forked (its children while it served). */
  workers: number;
}

/** One process (LYSS_WORKERS=1) on a table of many tenants: what a usage batch spread over them costs. */
export interface TenantsRun extends SideRun {
  tenants: number;
  channels: number;
  tokens: number;
}

export interface TargetCheck {
  target: string;
  goal: string;
  measured: string;
  pass: boolean;
}

export interface BenchReport {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; fdLimit: string; loadAverageStart: number[]; loadAverageEnd: number[] };
  backends: { database: string; store: string; fallback: string[] };
  settings: Record<string, number | string>;
  firstBootMs: number;
  /** longPrompt: non-stream saturation with a long system prompt (what counting and storing a long prompt costs). */
  scenarios: { nonStream: Scenario; longPrompt: Scenario; stream: Scenario; paced: Scenario };
  openStreams: { bare: StreamsRun; gateway: StreamsRun; upstreamPeakSocketsPerOrigin: number; origins: number };
  coldStart: { withConfigMs: number; withoutConfigMs: number; startupMsLogged: (number | null)[] };
  /** The benchmarked gateway's own log: warnings and errors it wrote, and how it exited on SIGTERM. */
  gatewayLog: LogSummary & { exitCode: number | string };
  usage: {
    /** Every answer of the load scenarios, read after a SIGTERM that came a second after the last one. */
    load: UsageCheck & { mockCallsFromGateway: number };
    /** The cold-start probes: answered, then SIGTERM at once. */
    sigtermRightAfterAnswer: { served: number; rowsAdded: number; usage: number; usageAdded: number; pass: boolean };
  };
  /** The default LYSS_WORKERS row; absent in reports written before it existed. */
  workers?: WorkersRun | { skipped: string };
  /** The many-tenants section; absent in reports written before it existed. */
  manyTenants?: TenantsRun | { skipped: string };
  scale: ScaleResult | { skipped: string };
  targets: TargetCheck[];
  elapsedSeconds: number;
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** The median of each figure over the rounds; error counts are summed, never medianed away. */
export function medianRun(runs: RunFigures[]): RunFigures {
  const m = (f: (r: RunFigures) => number) => median(runs.map(f));
  const sum = (f: (r: RunFigures) => number) => runs.reduce((s, r) => s + f(r), 0);
  const cpuNames = [...new Set(runs.flatMap((r) => Object.keys(r.cpu)))];
  return {
    ok: sum((r) => r.ok),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    mismatches: sum((r) => r.mismatches),
    unanswered: sum((r) => r.unanswered),
    seconds: sum((r) => r.seconds),
    usage: sum((r) => r.usage),
    rps: m((r) => r.rps),
    p50: m((r) => r.p50),
    p99: m((r) => r.p99),
    cores: m((r) => r.cores),
    cpuUsPerRequest: m((r) => r.cpuUsPerRequest),
    systemUsPerRequest: m((r) => r.systemUsPerRequest),
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    cpu: Object.fromEntries(cpuNames.map((n) => [n, m((r) => r.cpu[n] ?? 0)])),
  };
}

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const f3 = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : 'n/a');
const mb = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
const errs = (r: { non2xx: number; errors: number; mismatches: number }) => `${r.non2xx} / ${r.errors} / ${r.mismatches}`;

/** The side sections that ran (a report may predate them, or they may have been skipped). */
function measuredSides(r: Pick<BenchReport, 'workers' | 'manyTenants'>): SideRun[] {
  return [r.workers, r.manyTenants].filter((side): side is WorkersRun | TenantsRun => side !== undefined && 'median' in side);
}

export function checkTargets(r: Omit<BenchReport, 'targets' | 'elapsedSeconds'>): TargetCheck[] {
  const { nonStream, stream, paced } = r.scenarios;
  const ratio = (s: Scenario) => s.median.gateway.rps / s.median.bare.rps;
  const addedP50 = paced.median.gateway.p50 - paced.median.direct.p50;
  const p99Over = paced.median.gateway.p99 - paced.median.bare.p99;
  const gw = r.openStreams.gateway;
  // The side sections' answers count too (their gateways and the bare proxy runs beside them).
  const runErrors = (f: RunFigures) => f.non2xx + f.errors + f.mismatches + f.unanswered;
  const sides = measuredSides(r);
  const sidesGw = sides.reduce((s, side) => s + runErrors(side.median.gateway) + (side.median.paced ? runErrors(side.median.paced) : 0), 0);
  const sidesBare = sides.reduce((s, side) => s + runErrors(side.median.bare), 0);
  const every = Object.values(r.scenarios);
  const gwErrors = sidesGw + every.reduce((s, sc) => s + runErrors(sc.median.gateway), 0);
  const allErrors = sidesGw + sidesBare + every.reduce(
    (s, sc) => s + TARGETS.reduce((t, k) => t + runErrors(sc.median[k]), 0),
    0,
  );
  const streamErrors = gw.non2xx + gw.errors + gw.incomplete;
  const checks: TargetCheck[] = [
    { target: 'non-stream throughput vs bare proxy', goal: '≥ 0.70×', measured: `${f2(ratio(nonStream))}×`, pass: ratio(nonStream) >= 0.7 },
    {
      target: 'non-stream throughput per CPU second vs bare proxy (the first target, free of CPU contention)',
      goal: '≥ 0.70×',
      measured: `${f2(nonStream.median.bare.cpuUsPerRequest / nonStream.median.gateway.cpuUsPerRequest)}×`,
      pass: nonStream.median.bare.cpuUsPerRequest / nonStream.median.gateway.cpuUsPerRequest >= 0.7,
    },
    { target: 'stream throughput vs bare proxy', goal: '≥ 0.70×', measured: `${f2(ratio(stream))}×`, pass: ratio(stream) >= 0.7 },
    { target: `added p50 over direct at ${r.settings.rate} req/s`, goal: '≤ 0.40 ms', measured: `${f3(addedP50)} ms`, pass: addedP50 <= 0.4 },
    { target: `p99 over bare proxy p99 at ${r.settings.rate} req/s`, goal: '≤ +1.00 ms', measured: `${p99Over >= 0 ? '+' : ''}${f3(p99Over)} ms`, pass: p99Over <= 1 },
    { target: `${r.settings.openStreams} open streams: gateway peak RSS`, goal: '≤ 300 MB', measured: `${mb(gw.peakRssMb)} MB`, pass: gw.peakRssMb <= 300 },
    { target: `${r.settings.openStreams} open streams: errors`, goal: '0', measured: `${streamErrors}`, pass: streamErrors === 0 && gw.ok === gw.requested },
    { target: 'errors, gateway, every scenario', goal: '0', measured: `${gwErrors + streamErrors}`, pass: gwErrors + streamErrors === 0 },
    { target: 'errors, all targets, every scenario', goal: '0', measured: `${allErrors + streamErrors + r.openStreams.bare.non2xx + r.openStreams.bare.errors + r.openStreams.bare.incomplete}`, pass: allErrors + streamErrors + r.openStreams.bare.non2xx + r.openStreams.bare.errors + r.openStreams.bare.incomplete === 0 },
    { target: 'lost usage rows under load (PostgreSQL vs served)', goal: '0', measured: `${r.usage.load.lostRows} (${r.usage.load.problems.length} figures differ)`, pass: r.usage.load.pass },
    {
      target: 'lost usage rows, SIGTERM right after an answer',
      goal: '0',
      measured: `${r.usage.sigtermRightAfterAnswer.served - r.usage.sigtermRightAfterAnswer.rowsAdded} of ${r.usage.sigtermRightAfterAnswer.served}`,
      pass: r.usage.sigtermRightAfterAnswer.pass,
    },
  ];
  const lostRows = (target: string, u: UsageCheck) =>
    checks.push({ target, goal: '0', measured: `${u.lostRows} of ${u.served} (${u.problems.length} figures differ)`, pass: u.pass });
  if (r.workers && 'usage' in r.workers) lostRows(`lost usage rows, default LYSS_WORKERS (${r.workers.workers} workers)`, r.workers.usage);
  if (r.manyTenants && 'usage' in r.manyTenants) lostRows(`lost usage rows, ${r.manyTenants.tenants} tenants`, r.manyTenants.usage);
  if ('rate' in r.scale) {
    checks.push({ target: `2 processes: rate limit ${r.scale.rate.limit}/min admitted`, goal: `${r.scale.rate.limit} (≤ ${r.scale.rate.allowance} with GCRA refill)`, measured: `${r.scale.rate.admitted}`, pass: r.scale.rate.pass });
    checks.push({ target: `2 processes: quota ${r.scale.quota.quota} never exceeded`, goal: `≤ ${r.scale.quota.quota}, = client usage`, measured: `${r.scale.quota.usedInPostgres} (clients saw ${r.scale.quota.clientUsage})`, pass: r.scale.quota.pass });
  }
  return checks;
}

export function renderMarkdown(r: BenchReport): string {
  const out: string[] = [];
  const line = (s = '') => out.push(s);
  const s = r.settings;
  line(`# Lyss bench: latest run`);
  line();
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  line(`${r.date} · ${r.machine.cpus} × ${r.machine.cpuModel} · ${r.machine.memoryGb} GB · Node ${r.machine.node} · fd limit ${r.machine.fdLimit} · ` +
    `load average ${la(r.machine.loadAverageStart)} at start, ${la(r.machine.loadAverageEnd)} at end`);
  line(`Database: **${r.backends.database}** · limits store: **${r.backends.store}** · gateway LYSS_WORKERS=1, every feature on`);
  for (const fb of r.backends.fallback) line(`> **FALLBACK**: ${fb}`);
  line();
  line(`Settings: ${s.seconds} s per run, ${s.rounds} interleaved rounds (direct, bare, gateway), medians shown; ${s.connections} connections; ` +
    `${s.streamChunks} content chunks per stream; ${s.tenants} tenants, ${s.channels} channels on ${s.mockPorts} mock origins, ${s.tokens} tokens (round-robin). Whole run: ${f0(r.elapsedSeconds)} s.`);
  line();
  line('## Throughput and latency');
  line();
  line('| scenario | target | req/s | × bare | p50 ms | p99 ms | CPU µs per request (serving process) | × bare | CPU cores used (serving process) | peak RSS MB | errors: non-2xx / socket / bad body | other processes on the machine (cores) |');
  line('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const sc of Object.values(r.scenarios)) {
    const bare = sc.median.bare;
    TARGETS.forEach((t, i) => {
      const m = sc.median[t];
      line(`| ${i === 0 ? sc.title : ''} | ${LABEL[t]} | ${f0(m.rps)} | ${f2(m.rps / bare.rps)} | ${f3(m.p50)} | ${f3(m.p99)} | ${f0(m.cpuUsPerRequest)} | ${f2(m.cpuUsPerRequest / bare.cpuUsPerRequest)} | ${f2(m.cores)} | ${mb(m.peakRssMb)} | ${errs(m)} | ${f2(m.cpu['other processes'] ?? NaN)} |`);
    });
  }
  const p = r.scenarios.paced.median;
  line();
  const ns = r.scenarios.nonStream.median;
  line(`Per core of CPU the gateway serves ${f0(1e6 / ns.gateway.cpuUsPerRequest)} non-stream req/s against the bare proxy's ${f0(1e6 / ns.bare.cpuUsPerRequest)} ` +
    `(${f2(ns.bare.cpuUsPerRequest / ns.gateway.cpuUsPerRequest)}×): the throughput ratio if each had a core of its own and were bound by it.`);
  line();
  const split = (t: Target) => `${LABEL[t]} ${f0(ns[t].cpuUsPerRequest - ns[t].systemUsPerRequest)} + ${f0(ns[t].systemUsPerRequest)}`;
  line(`CPU µs per non-stream answer, user space + kernel (system calls, the loopback network): ${TARGETS.map(split).join(' · ')}.`);
  line();
  const sign = (n: number) => `${n >= 0 ? '+' : ''}${f3(n)}`;
  line(`At ${s.rate} req/s the gateway adds **${f3(p.gateway.p50 - p.direct.p50)} ms** at p50 over the direct mock ` +
    `(bare proxy: ${f3(p.bare.p50 - p.direct.p50)} ms); gateway p99 − bare proxy p99 = **${sign(p.gateway.p99 - p.bare.p99)} ms**.`);
  line();
  const cpu = r.scenarios.nonStream.median.gateway.cpu;
  line(`CPU while the gateway runs non-stream at saturation (cores, median): ` +
    Object.entries(cpu).map(([k, v]) => `${k} ${f2(v)}`).join(' · ') + '.');
  line();
  renderWorkers(r, line);
  renderManyTenants(r, line);
  line(`## ${s.openStreams} concurrent open streams (${s.slowChunks} chunks, one every ${s.slowDelayMs} ms, opened over ${s.openStreamsRampMs} ms)`);
  line();
  line('Run right after the warm-up, before the saturation rounds.');
  line();
  line('| target | streams ok / requested | peak open at once | errors: non-2xx / socket / incomplete | first byte p50 / p99 ms | stream p50 / p99 s | RSS before MB | peak RSS MB | RSS after MB | CPU s (avg cores) |');
  line('|---|---|---:|---|---|---|---:|---:|---:|---|');
  for (const t of ['bare', 'gateway'] as const) {
    const o = r.openStreams[t];
    line(`| ${LABEL[t]} | ${o.ok} / ${o.requested} | ${o.peakOpen} | ${o.non2xx} / ${o.errors} / ${o.incomplete} | ${f0(o.ttfbP50)} / ${f0(o.ttfbP99)} | ${f2(o.durationP50 / 1000)} / ${f2(o.durationP99 / 1000)} | ${mb(o.rssBeforeMb)} | ${mb(o.peakRssMb)} | ${mb(o.rssAfterMb)} | ${f2(o.cpuSeconds)} (${f2(o.cores)}) |`);
  }
  line();
  for (const t of ['bare', 'gateway'] as const) {
    const kinds = Object.entries(r.openStreams[t].errorKinds);
    if (kinds.length) line(`${LABEL[t]} socket errors: ${kinds.map(([k, n]) => `${k} × ${n}`).join(', ')}.`);
  }
  line();
  line(`The gateway's upstream connections: at most ${r.openStreams.upstreamPeakSocketsPerOrigin} open at once on one mock origin ` +
    `(its ${s.channels} channels spread over ${r.openStreams.origins} origins; its undici Agent has no per-origin cap, so each open stream ` +
    `holds a connection of its own).`);
  line();
  line('## Cold start to first served request');
  line();
  line('| case | spawn → first 200 chat completion |');
  line('|---|---:|');
  line(`| first boot on an empty database (migrations + LYSS_CONFIG seeding of the whole table), to /readyz | ${f0(r.firstBootMs)} ms |`);
  line(`| restart with LYSS_CONFIG (re-applied, all unchanged) | ${f0(r.coldStart.withConfigMs)} ms |`);
  line(`| restart without LYSS_CONFIG | ${f0(r.coldStart.withoutConfigMs)} ms |`);
  line();
  const gl = r.gatewayLog;
  line(`The gateway's log over the whole run: ${gl.warn} warnings, ${gl.error} errors${Object.keys(gl.messages).length ? ` (${Object.entries(gl.messages).map(([m, n]) => `${m} × ${n}`).join('; ')})` : ''}; exit code on SIGTERM: ${gl.exitCode}.`);
  line();
  line('## Usage records in PostgreSQL');
  line();
  const u = r.usage.load;
  line(`Read as the postgres superuser after SIGTERM (which flushes the queue), a second after the last answer. ` +
    `Served = 2xx answers the gateway completed in every load scenario (warm-up, rounds, open streams); every run ends gracefully, so each request sent was answered and counted.`);
  line();
  line('| figure | PostgreSQL | expected |');
  line('|---|---:|---:|');
  line(`| chat_conversations rows | ${f0(u.rows.conversations)} | ${f0(u.served)} |`);
  line(`| assistant chat_messages rows | ${f0(u.rows.assistantRows)} | ${f0(u.served)} |`);
  line(`| chat_messages rows (user + assistant) | ${f0(u.rows.messageRows)} | ${f0(u.served * u.messagesPerRequest)} |`);
  line(`| sum of message_count | ${f0(u.rows.messagesCounted)} | ${f0(u.served * u.messagesPerRequest)} |`);
  line(`| sum of provider_tokens.used_quota | ${f0(u.rows.tokenUsed)} | ${f0(u.clientUsage)} (usage the clients received) |`);
  line(`| sum of provider_channels.used_quota | ${f0(u.rows.channelUsed)} | ${f0(u.clientUsage)} |`);
  line(`| upstream calls the mock answered for the gateway | ${f0(u.mockCallsFromGateway)} | ${f0(u.served)} |`);
  line();
  line(`Lost rows under load: **${u.lostRows}**${u.problems.length ? ` — ${u.problems.join('; ')}` : ''}.`);
  line();
  const p2 = r.usage.sigtermRightAfterAnswer;
  line(`SIGTERM right after an answer (each cold-start probe: one 200, then SIGTERM at once): ${p2.rowsAdded} of ${p2.served} rows written, ` +
    `used_quota +${p2.usageAdded} for ${p2.usage} received: **${p2.pass ? 'PASS' : 'FAIL'}**.`);
  line();
  line('## Two gateway processes, one Redis, one PostgreSQL');
  line();
  if ('skipped' in r.scale) {
    line(`Skipped: ${r.scale.skipped}`);
  } else {
    const { rate, quota } = r.scale;
    line('| check | sent | admitted (200) | refused (429) | other | result |');
    line('|---|---:|---:|---:|---:|---|');
    line(`| token rate limit ${rate.limit}/min, burst over ${f0(rate.elapsedMs)} ms | ${rate.sent} | ${rate.admitted} | ${rate.limited} | ${rate.other} | expected ${rate.limit} (GCRA allows ≤ ${rate.allowance} in that time): **${rate.pass ? 'PASS' : 'FAIL'}** |`);
    line(`| token quota ${quota.quota} units | ${quota.sent} | ${quota.admitted} | ${quota.refused} | ${quota.other} | used_quota ${quota.usedInPostgres} ≤ ${quota.quota}, clients saw ${quota.clientUsage}: **${quota.pass ? 'PASS' : 'FAIL'}** |`);
  }
  line();
  line('## Targets (issue 6)');
  line();
  line('| target | goal | measured | result |');
  line('|---|---|---|---|');
  for (const t of r.targets) line(`| ${t.target} | ${t.goal} | ${t.measured} | **${t.pass ? 'PASS' : 'FAIL'}** |`);
  line();
  return out.join('\n');
}

/** The default LYSS_WORKERS section: its own bare-proxy rounds, with the one-process gateway of the main table beside it. */
function renderWorkers(r: BenchReport, line: (s?: string) => void): void {
  const w = r.workers;
  if (!w) return;
  if ('skipped' in w) return renderSkipped('Default LYSS_WORKERS', w.skipped, line);
  const s = r.settings;
  const { bare, gateway } = w.median;
  const one = r.scenarios.nonStream.median;
  line(`## Default LYSS_WORKERS (${w.workers} workers)`);
  line();
  line(`The gateway as it runs by default on PostgreSQL + Redis: a cluster primary and one worker per core (LYSS_WORKERS unset or 0), ` +
    `non-stream at saturation (${s.connections} connections), ${s.rounds} rounds of ${s.seconds} s, each right after a run of the bare proxy, medians shown. ` +
    `A fresh process is slow at first (JIT, and caches each worker fills on its own), so it was warmed up for ${w.warmupSeconds} s, in slices of ${s.warmupSeconds} s until its CPU per answer fell by less than 10 %. ` +
    `Its CPU and RSS are summed over the primary and its ${w.workers} workers. The targets are judged on the one-process row of the table above ` +
    `(one gateway process against the one-process bare proxy); this one shows what the default gives on this ${r.machine.cpus}-core machine, ` +
    `whose cores the workers share with the load generator, the mock, PostgreSQL and Redis.`);
  line();
  line('| target | req/s | × bare | p50 ms | p99 ms | CPU µs per request (all its processes) | × bare | CPU cores used (all its processes) | peak RSS MB | errors: non-2xx / socket / bad body | other processes on the machine (cores) |');
  line('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  const row = (label: string, m: RunFigures, ref: RunFigures) =>
    line(`| ${label} | ${f0(m.rps)} | ${f2(m.rps / ref.rps)} | ${f3(m.p50)} | ${f3(m.p99)} | ${f0(m.cpuUsPerRequest)} | ${f2(m.cpuUsPerRequest / ref.cpuUsPerRequest)} | ${f2(m.cores)} | ${mb(m.peakRssMb)} | ${errs(m)} | ${f2(m.cpu['other processes'] ?? NaN)} |`);
  row('bare proxy (one process)', bare, bare);
  row(`gateway, default LYSS_WORKERS (primary + ${w.workers} workers)`, gateway, bare);
  row('gateway, LYSS_WORKERS=1 (the table above; × bare against its own bare proxy)', one.gateway, one.bare);
  line();
  line(`CPU while it runs (cores, median): ` + Object.entries(gateway.cpu).map(([k, v]) => `${k} ${f2(v)}`).join(' · ') + '.');
  line();
  line(sideUsageAndLog(w));
  line();
}

function renderSkipped(title: string, why: string, line: (s?: string) => void): void {
  line(`## ${title}`);
  line();
  line(`Skipped: ${why}.`);
  line();
}

/** A side section's usage check and log, in one sentence each. */
function sideUsageAndLog(side: SideRun): string {
  const u = side.usage;
  const messages = Object.entries(side.log.messages);
  return `Its usage rows, read after SIGTERM: ${f0(u.rows.assistantRows)} of ${f0(u.served)} answers written, used_quota +${f0(u.rows.tokenUsed)} for ${f0(u.clientUsage)} received` +
    `${u.problems.length ? ` (${u.problems.join('; ')})` : ''}: **${u.pass ? 'PASS' : 'FAIL'}**. ` +
    `Its log: ${side.log.warn} warnings, ${side.log.error} errors${messages.length ? ` (${messages.map(([m, n]) => `${m} × ${n}`).join('; ')})` : ''}; exit code on SIGTERM: ${side.log.exitCode}.`;
}

/**
 * The many-tenants section beside the main table's gateway (3 tenants): what PostgreSQL and the gateway spend
 * per answer when each usage batch holds records of most tenants.
 */
function renderManyTenants(r: BenchReport, line: (s?: string) => void): void {
  const m = r.manyTenants;
  if (!m) return;
  if ('skipped' in m) return renderSkipped('Many tenants', m.skipped, line);
  const s = r.settings;
  const main = r.scenarios;
  line(`## ${m.tenants} tenants`);
  line();
  line(`The one-process gateway (LYSS_WORKERS=1) on a table of ${m.tenants} tenants, ${m.channels} channels and ${m.tokens} tokens, its requests ` +
    `round-robin over every token, so each usage batch holds records of most tenants. Warmed up for ${m.warmupSeconds} s, then ${s.rounds} rounds of ` +
    `${s.seconds} s: the bare proxy, the gateway at saturation (${s.connections} connections), the gateway at ${s.rate} req/s` +
    `${s.leadInSeconds ? ` after a ${s.leadInSeconds} s lead-in` : ''}; medians shown, beside the table above (${s.tenants} tenants). ` +
    `PostgreSQL's CPU per answer is the cores it used over the answers per second of the same runs.`);
  line();
  line('| tenants | scenario | req/s | × bare | p50 ms | p99 ms | gateway CPU µs per answer | PostgreSQL CPU µs per answer | errors: non-2xx / socket / bad body |');
  line('|---:|---|---:|---:|---:|---:|---:|---:|---|');
  const pgUs = (f: RunFigures) => ((f.cpu['postgres'] ?? NaN) / f.rps) * 1e6;
  const row = (tenants: number | string, scenario: string, f: RunFigures, bare: RunFigures | null) =>
    line(`| ${tenants} | ${scenario} | ${f0(f.rps)} | ${bare ? f2(f.rps / bare.rps) : '–'} | ${f3(f.p50)} | ${f3(f.p99)} | ${f0(f.cpuUsPerRequest)} | ${f0(pgUs(f))} | ${errs(f)} |`);
  const saturation = `non-stream, ${s.connections} connections`;
  const few = String(s.tenants);
  row(few, saturation, main.nonStream.median.gateway, main.nonStream.median.bare);
  row(m.tenants, saturation, m.median.gateway, m.median.bare);
  row(few, `non-stream at ${s.rate} req/s`, main.paced.median.gateway, null);
  if (m.median.paced) row(m.tenants, `non-stream at ${s.rate} req/s`, m.median.paced, null);
  line();
  line(sideUsageAndLog(m));
  line();
}
