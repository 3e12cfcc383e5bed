/**
 * How long the gateway's event loop waits, runnable, for a core another task took from it, and who took it:
 * the profile stack (mock, PostgreSQL, Redis, the seeded table) and one gateway per variant, warmed up, then
 * the paced load (BENCH_RATE req/s) with Linux `perf` recording every context switch on the machine. Each time
 * the event loop's thread is switched out still runnable (preempted), the wait until it runs again is charged
 * to the task that took the core. On a shared machine the p99 of a short run moves by milliseconds from run
 * to run; this counts the mechanism itself, so two variants compare on a few rounds.
 *
 * `npm run build && node --import tsx bench/preemption.ts`; variants as K=V settings separated by `|`, e.g.
 * `BENCH_VARIANTS="LYSS_BACKGROUND_NICE=0|LYSS_BACKGROUND_NICE=10" BENCH_ROUNDS=3` (default: the defaults,
 * one round). Needs `perf` and root.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { paced, percentile } from './load.js';
import { startProfileStack, warmUp } from './profile-stack.js';
import { requestVariants } from './seed.js';

const variants = (process.env.BENCH_VARIANTS ?? '').split('|').map((v) => v.trim());
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
/** Waits longer than this are the ones that make a slow answer. */
const LONG_MS = 0.5;

interface Preemptions {
  /** Every preempted wait, ms. */
  totalMs: number;
  count: number;
  longCount: number;
  longMs: number;
  /** Long waits' ms by who took the core. */
  longBy: Map<string, number>;
}

function tidsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/** Reads `perf script` output of sched_switch events and charges the event loop's preempted waits. */
function preemptions(perfData: string, loop: number, who: (tid: number, comm: string) => string): Preemptions {
  const script = execFileSync('perf', ['script', '-i', perfData, '-F', 'time,trace'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  const result: Preemptions = { totalMs: 0, count: 0, longCount: 0, longMs: 0, longBy: new Map() };
  let switchedOut: { at: number; by: string } | null = null;
  const re = /^\s*([\d.]+):\s+prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)/;
  for (const line of script.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const at = Number(m[1]) * 1000;
    const prev = Number(m[3]);
    const next = Number(m[6]);
    // Switched out runnable (R, R+): preempted. Asleep (S): waiting for work, not charged.
    if (prev === loop) switchedOut = m[4]!.startsWith('R') ? { at, by: who(next, m[5]!) } : null;
    else if (next === loop && switchedOut) {
      const ms = at - switchedOut.at;
      result.totalMs += ms;
      result.count++;
      if (ms > LONG_MS) {
        result.longCount++;
        result.longMs += ms;
        result.longBy.set(switchedOut.by, (result.longBy.get(switchedOut.by) ?? 0) + ms);
      }
      switchedOut = null;
    }
  }
  return result;
}

interface Outcome {
  p99: number;
  longMs: number;
  line: string;
}

async function runOnce(env: string, round: number): Promise<Outcome> {
  const stack = await startProfileStack(`preempt_${round}`, () => [], env);
  try {
    const { s, seed, gateway, url, workDir } = stack;
    const requests = requestVariants(seed.tokens, { stream: false });
    await warmUp(stack, requests, false);
    const perfData = path.join(workDir, 'sched.data');
    let perf: ReturnType<typeof spawn> | null = null;
    const recorded = new Promise<void>((resolve) => {
      // After the lead-in, for the measured seconds.
      setTimeout(() => {
        perf = spawn('perf', ['record', '-q', '-e', 'sched:sched_switch', '-a', '-o', perfData, '--', 'sleep', String(s.profileSeconds)], { stdio: 'ignore' });
        perf.on('exit', () => resolve());
      }, s.leadInSeconds * 1000);
    });
    const r = await paced({ url, rate: s.rate, seconds: s.profileSeconds + 1, leadInSeconds: s.leadInSeconds, requests, stream: false });
    await recorded;
    const gatewayTids = new Set(tidsOf(gateway.pid));
    const generatorTids = new Set(tidsOf(process.pid));
    // Anything else by its command name, numbered kernel threads as one: `node` there is the mock upstream.
    const who = (tid: number, comm: string) =>
      gatewayTids.has(tid) ? `gateway thread (${comm})` : generatorTids.has(tid) ? 'load generator' : comm.replace(/\d+$/, '');
    const p = preemptions(perfData, gateway.pid, who);
    const by = [...p.longBy].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, ms]) => `${k} ${ms.toFixed(1)}`).join(', ');
    const line =
      `${env || '(defaults)'} r${round}: p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)} ms · preempted ${p.count}× ${p.totalMs.toFixed(1)} ms · ` +
      `over ${LONG_MS} ms ${p.longCount}× ${p.longMs.toFixed(1)} ms (${by})`;
    return { p99: r.p99, longMs: p.longMs, line };
  } finally {
    await stack.stop();
  }
}

const outcomes = new Map<string, Outcome[]>(variants.map((v) => [v, []]));
for (let round = 0; round < rounds; round++) {
  // Alternate the order: the variant run second in a round tends to find a colder machine (bench/README).
  const order = round % 2 === 0 ? variants : [...variants].reverse();
  for (const env of order) {
    const outcome = await runOnce(env, round);
    outcomes.get(env)!.push(outcome);
    process.stdout.write(`${outcome.line}\n`);
  }
}
const median = (xs: number[]) => percentile(xs, 0.5);
for (const [env, list] of outcomes) {
  process.stdout.write(`== ${env || '(defaults)'}: medians p99 ${median(list.map((o) => o.p99)).toFixed(3)} ms, preempted over ${LONG_MS} ms ${median(list.map((o) => o.longMs)).toFixed(1)} ms\n`);
}
