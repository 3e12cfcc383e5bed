/**
 * On-CPU profile of the whole machine under the non-stream saturation load, with Linux perf: where every
 * process's CPU goes (gateway, PostgreSQL, Redis, mock, load generator) and, inside the gateway, by function.
 * Unlike `node --cpu-prof` (bench/profile.ts), perf samples only while a thread runs, so a write that gets
 * the gateway descheduled (the kernel waking the reader on the same shared core) is not charged to it.
 * Needs `perf` (Debian: apt-get install linux-perf). `npm run build && node --import tsx bench/perf-profile.ts`
 * (BENCH_PROFILE_SECONDS, default 10). Prints the report; the raw perf.data stays with BENCH_KEEP_WORKDIR=1.
 */
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import { saturate } from './load.js';
import { startProfileStack } from './profile-stack.js';
import { requestVariants } from './seed.js';

const stream = process.env.BENCH_PROFILE_STREAM === '1';
const stack = await startProfileStack('perf', () => ['--perf-basic-prof-only-functions']);
const { s, seed, gateway, url, workDir } = stack;

try {
  const requests = requestVariants(seed.tokens, { stream });
  await saturate({ url, connections: s.connections, seconds: Math.max(s.warmupSeconds, 5), requests, stream });
  const data = path.join(workDir, 'perf.data');
  const perf = spawn('perf', ['record', '-a', '-F', '997', '-e', 'cpu-clock', '-o', data, '--', 'sleep', String(s.profileSeconds)], { stdio: 'ignore' });
  const r = await saturate({ url, connections: s.connections, seconds: s.profileSeconds, requests, stream });
  await new Promise((done) => perf.once('exit', done));
  // The first `lines` rows of a perf report, headers and blank lines left out.
  const top = (args: string[], lines: number) =>
    execFileSync('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', ...args], { maxBuffer: 256 << 20 })
      .toString()
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .slice(0, lines)
      .join('\n');
  const pid = ['--pid', String(gateway.pid)];
  process.stdout.write(`load: ${r.rps.toFixed(0)} req/s over ${r.seconds.toFixed(1)} s, errors ${r.non2xx}/${r.errors}; gateway pid ${gateway.pid}\n\n`);
  process.stdout.write(`${top(['--sort', 'comm'], 15)}\n\n${top([...pid, '--sort', 'sym'], 70)}\n\n${top([...pid, '--sort', 'dso'], 20)}\n`);
  if (process.env.BENCH_KEEP_WORKDIR === '1') process.stderr.write(`perf data kept: ${data} (gateway pid ${gateway.pid})\n`);
} finally {
  await stack.stop();
}
