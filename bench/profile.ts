/**
 * Profiles the gateway under the non-stream saturation load (BENCH_PROFILE_STREAM=1: the stream one;
 * BENCH_PROFILE_LONG_PROMPT=1: the long-prompt one): the same stack as run.ts (mock, PostgreSQL,
 * Redis, the seeded table), the gateway started with `node --cpu-prof`, then SIGTERM (which writes the
 * profile) and a summary of self and total time by function and package, written to
 * bench/results/profile[-stream|-long]-latest.md. The .cpuprofile stays in a temporary folder (never committed); set
 * BENCH_KEEP_WORKDIR=1 to keep it for a flame graph (e.g. load it in Chrome DevTools or speedscope).
 * `npm run build && node --import tsx bench/profile.ts` (BENCH_PROFILE_SECONDS, default 10).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderSummary, summarize } from './cpuprofile-summary.js';
import { saturate } from './load.js';
import { ROOT, stopChild } from './procs.js';
import { startProfileStack, warmUp } from './profile-stack.js';
import { requestVariants } from './seed.js';

const stream = process.env.BENCH_PROFILE_STREAM === '1';
const longPrompt = process.env.BENCH_PROFILE_LONG_PROMPT === '1';
if (stream && longPrompt) throw new Error('BENCH_PROFILE_STREAM and BENCH_PROFILE_LONG_PROMPT: one load at a time');
const variant = stream ? '-stream' : longPrompt ? '-long' : '';
const profDirOf = (workDir: string) => path.join(workDir, 'prof');
const stack = await startProfileStack('profile', (workDir) => {
  mkdirSync(profDirOf(workDir));
  return ['--cpu-prof', `--cpu-prof-dir=${profDirOf(workDir)}`];
});
const { s, pg, redis, seed, gateway, spawnedAt, url } = stack;
const profDir = profDirOf(stack.workDir);

try {
  const requests = requestVariants(seed.tokens, { stream, systemPromptChars: longPrompt ? s.longPromptChars : undefined });
  // Until the caches are full the profile shows PostgreSQL reads a warm gateway never makes (on a slow machine
  // a fixed 2 s left postgres.js at 18 % of the profile instead of 3 %).
  const warmedUp = await warmUp(stack, requests, stream);
  const loadFrom = performance.now() - spawnedAt;
  const r = await saturate({ url, connections: s.connections, seconds: s.profileSeconds, requests, stream });
  const loadTo = performance.now() - spawnedAt;
  await stopChild(gateway, 60_000);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
  // The profile starts with the process (give or take Node's own boot): keep only the measured load.
  const summary = summarize(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')), ROOT, { fromMs: loadFrom, toMs: loadTo });
  const md = [
    `# Gateway CPU profile: ${stream ? `stream (${s.streamChunks} chunks)` : longPrompt ? `non-stream, a ${s.longPromptChars}-character system prompt,` : 'non-stream'} saturation`,
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · Node ${process.versions.node} · ` +
      `${pg ? `PostgreSQL ${pg}` : 'PGlite (fallback)'} · ${redis ? `Redis ${redis}` : 'in-process store (fallback)'} · load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    '',
    `Load while profiling (warm-up excluded): ${s.connections} connections, ${r.seconds.toFixed(1)} s, ${r.rps.toFixed(0)} req/s, ` +
      `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.non2xx}/${r.errors}/${r.mismatches}, after ${warmedUp} s of warm-up. Only that window of the profile is summarised (boot, seeding and warm-up excluded).`,
    '',
    renderSummary(summary, 30),
    '',
  ].join('\n');
  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `profile${variant}-latest.md`), md);
  process.stdout.write(md);
  if (process.env.BENCH_KEEP_WORKDIR === '1') process.stderr.write(`profile kept: ${path.join(profDir, file)}\n`);
} finally {
  await stack.stop();
}
