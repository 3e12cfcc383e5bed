/**
 * What the slowest answers at 500 req/s waited for: the profile stack (mock, PostgreSQL, Redis, the seeded
 * table), one gateway under `node --cpu-prof` at a fine sampling interval, warmed up, then the paced load with
 * every answer's start and latency kept. Each answer is laid over the profile's samples (both sides read
 * CLOCK_MONOTONIC), and the gateway's main thread over the answer's lifetime is split into what it was doing:
 * GC, the usage writer, the limit store, serving requests, idle, or not running at all (a gap between samples:
 * the process was descheduled, by the machine's other processes or by the GC's own threads; such a gap counts
 * whole, though the thread may have run for about one interval of it). The slowest 1 % against the median
 * answers names what makes the p99. The gateway runs with LYSS_BACKGROUND_NICE=0: V8's sampling thread is one
 * of the threads it would lower, and its delays would read as the event loop not running. Written to
 * bench/results/tail-latest.md.
 * `npm run build && node --import tsx bench/tail.ts` (BENCH_PROFILE_SECONDS, BENCH_RATE, BENCH_TAIL_INTERVAL_US).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { frameLocator, type CpuProfile, type ProfileNode } from './cpuprofile-summary.js';
import { paced, percentile } from './load.js';
import { ROOT, stopChild } from './procs.js';
import { startProfileStack, warmUp } from './profile-stack.js';
import { requestVariants } from './seed.js';

const intervalUs = Number(process.env.BENCH_TAIL_INTERVAL_US ?? 200);
const CATEGORIES = ['gc', 'usage writer', 'postgres (other)', 'limit store', 'serving', 'program', 'idle', 'not running'] as const;
type Category = (typeof CATEGORIES)[number];

/** What a sample's stack was doing, most specific first. */
function categorizer(profile: CpuProfile): (nodeId: number) => Category {
  const locate = frameLocator(ROOT);
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const memo = new Map<number, Category>();
  return (id) => {
    const hit = memo.get(id);
    if (hit) return hit;
    const name = byId.get(id)!.callFrame.functionName;
    let cat: Category | null = name === '(garbage collector)' ? 'gc' : name === '(idle)' ? 'idle' : name === '(program)' ? 'program' : null;
    if (!cat) {
      const pkgs = new Set<string>();
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const { name: fn, pkg, where } = locate(byId.get(n)!.callFrame);
        pkgs.add(pkg);
        // The batch's build and write, not a request's enqueue (which is serving).
        if (where.startsWith('src/usage/usage-repo') || (where.startsWith('src/usage/usage-recorder') && (fn === 'tick' || fn === 'flushOnce'))) pkgs.add('usage');
      }
      cat = pkgs.has('usage') ? 'usage writer' : pkgs.has('postgres') ? 'postgres (other)' : pkgs.has('ioredis') || pkgs.has('lyss src/store') ? 'limit store' : 'serving';
    }
    memo.set(id, cat);
    return cat;
  };
}

/** Per sample: its end time (µs, monotonic) and category; a gap well over the interval counts as not running. */
function timeline(profile: CpuProfile): { at: Float64Array; ms: Float64Array; cat: Category[] } {
  const categorize = categorizer(profile);
  const n = profile.samples.length;
  const at = new Float64Array(n);
  const ms = new Float64Array(n);
  const cat: Category[] = new Array(n);
  let t = profile.startTime;
  for (let i = 0; i < n; i++) {
    const d = profile.timeDeltas[i] ?? 0;
    t += d;
    at[i] = t;
    ms[i] = d / 1000;
    // A sample covers the time since the one before; when that is far over the interval the thread (or the
    // whole process) did not run for most of it.
    cat[i] = d > 3 * intervalUs ? 'not running' : categorize(profile.samples[i]!);
  }
  return { at, ms, cat };
}

const stack = await startProfileStack(
  'tail',
  (workDir) => {
    mkdirSync(path.join(workDir, 'prof'));
    return ['--cpu-prof', `--cpu-prof-dir=${path.join(workDir, 'prof')}`, `--cpu-prof-interval=${intervalUs}`];
  },
  'LYSS_BACKGROUND_NICE=0',
);
const { s, seed, gateway, url } = stack;

try {
  const requests = requestVariants(seed.tokens, { stream: false });
  const warmedUp = await warmUp(stack, requests, false);
  // performance.now() to CLOCK_MONOTONIC µs, the clock of V8's profile timestamps.
  const monoOffsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
  const answers: { startUs: number; ms: number }[] = [];
  const r = await paced({
    url,
    rate: s.rate,
    seconds: s.profileSeconds,
    requests,
    stream: false,
    onAnswer: (startMs, ms) => answers.push({ startUs: startMs * 1000 + monoOffsetUs, ms }),
  });
  await stopChild(gateway, 60_000);
  const profDir = path.join(stack.workDir, 'prof');
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
  const profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile;
  const tl = timeline(profile);
  if (process.env.BENCH_KEEP_WORKDIR === '1') {
    writeFileSync(path.join(profDir, 'answers.json'), JSON.stringify(answers));
    process.stderr.write(`profile and answers kept in ${profDir}\n`);
  }

  /** The main thread's time by category over an answer's lifetime (ms). */
  const overlap = (a: { startUs: number; ms: number }): Record<Category, number> => {
    const out = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
    const from = a.startUs;
    const to = a.startUs + a.ms * 1000;
    // Binary search for the first sample ending after `from`.
    let lo = 0;
    let hi = tl.at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tl.at[mid]! <= from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < tl.at.length; i++) {
      const end = tl.at[i]!;
      const start = end - tl.ms[i]! * 1000;
      if (start >= to) break;
      out[tl.cat[i]!] += (Math.min(end, to) - Math.max(start, from)) / 1000;
    }
    return out;
  };

  const sorted = [...answers].sort((a, b) => a.ms - b.ms);
  const values = sorted.map((a) => a.ms);
  const p99 = percentile(values, 0.99);
  const groups: [string, typeof sorted][] = [
    ['median answers (45th–55th percentile)', sorted.slice(Math.floor(sorted.length * 0.45), Math.ceil(sorted.length * 0.55))],
    ['90th–99th percentile', sorted.slice(Math.floor(sorted.length * 0.9), Math.floor(sorted.length * 0.99))],
    ['slowest 1 % (the p99 and above)', sorted.slice(Math.floor(sorted.length * 0.99))],
  ];
  const covered = answers.filter((a) => a.startUs >= profile.startTime && a.startUs + a.ms * 1000 <= tl.at[tl.at.length - 1]!).length;
  const rows = groups.map(([label, group]) => {
    const sums = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
    let gcHit = 0;
    let usageHit = 0;
    for (const a of group) {
      const o = overlap(a);
      for (const c of CATEGORIES) sums[c] += o[c];
      if (o.gc > 0) gcHit++;
      if (o['usage writer'] > 0) usageHit++;
    }
    const n = Math.max(1, group.length);
    const mean = group.reduce((x, a) => x + a.ms, 0) / n;
    return `| ${label} | ${group.length} | ${mean.toFixed(3)} | ${CATEGORIES.map((c) => (sums[c] / n).toFixed(3)).join(' | ')} | ${((100 * gcHit) / n).toFixed(0)} % | ${((100 * usageHit) / n).toFixed(0)} % |`;
  });
  // The whole load window, for scale (answers come in the order they ended).
  const firstStart = Math.min(...answers.map((a) => a.startUs));
  const lastEnd = Math.max(...answers.map((a) => a.startUs + a.ms * 1000));
  const whole = overlap({ startUs: firstStart, ms: (lastEnd - firstStart) / 1000 });
  const wholeMs = CATEGORIES.reduce((x, c) => x + whole[c], 0);
  const md = [
    `# What the slowest answers at ${s.rate} req/s waited for`,
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · Node ${process.versions.node} · load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    '',
    `${r.ok} answers over ${r.seconds.toFixed(1)} s after ${warmedUp} s of warm-up, p50 ${r.p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, errors ${r.non2xx}/${r.errors}/${r.mismatches}; ` +
      `${covered} of them inside the profile; the gateway sampled every ${intervalUs} µs (the profiler's own cost is in these latencies).`,
    '',
    "Mean ms of the gateway's main thread over an answer's lifetime, by what it was doing; the last two columns: answers that overlapped any GC, any usage-writer sample.",
    '',
    `| answers | n | latency ms | ${CATEGORIES.join(' | ')} | with GC | with usage writer |`,
    `|---|---:|---:|${CATEGORIES.map(() => '---:').join('|')}|---:|---:|`,
    ...rows,
    '',
    `Over the whole load: ${CATEGORIES.map((c) => `${c} ${((100 * whole[c]) / Math.max(1, wholeMs)).toFixed(1)} %`).join(' · ')}.`,
    '',
  ].join('\n');
  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'tail-latest.md'), md);
  process.stdout.write(md);
} finally {
  await stack.stop();
}
