/**
 * What the gateway allocates per answer, and where: the profile stack (mock, PostgreSQL, Redis, the seeded
 * table), one gateway with bench/alloc-sampler.cjs preloaded, warmed up until steady, then V8's sampling heap
 * profiler over a saturation load (BENCH_PROFILE_STREAM=1: the stream one). Allocation drives the scavenges,
 * and what is still in flight at each one is copied: fewer bytes per answer is less GC CPU, fewer pauses, and a
 * young generation that can be smaller. Summed by function (self) and by package, mapped back to src/ through
 * the bundle's source map; written to bench/results/alloc-latest.md (alloc-stream-latest.md).
 * BENCH_ALLOC_SURVIVORS=1 counts only what outlived a scavenge (what V8 copied and promoted: the GC's work);
 * BENCH_ALLOC_RATE=500 loads at that fixed rate instead of saturation.
 * `npm run build && node --import tsx bench/alloc-profile.ts` (BENCH_PROFILE_SECONDS, default 10).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { paced, saturate } from './load.js';
import { ROOT, sleep } from './procs.js';
import { startProfileStack, warmUp } from './profile-stack.js';
import { requestVariants } from './seed.js';
import { frameLocator } from './cpuprofile-summary.js';

interface AllocNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: AllocNode[];
}

const stream = process.env.BENCH_PROFILE_STREAM === '1';
const survivors = process.env.BENCH_ALLOC_SURVIVORS === '1';
const rate = Number(process.env.BENCH_ALLOC_RATE ?? 0);
const stack = await startProfileStack('alloc', () => ['--require', path.join(ROOT, 'bench', 'alloc-sampler.cjs')]);
const { s, seed, gateway, url } = stack;
const dataDir = path.join(stack.workDir, 'data');
mkdirSync(dataDir, { recursive: true });
const file = path.join(dataDir, 'alloc.heapprofile');

try {
  const requests = requestVariants(seed.tokens, { stream });
  const warmedUp = await warmUp(stack, requests, stream);
  if (survivors) writeFileSync(path.join(dataDir, 'alloc-survivors'), '');
  process.kill(gateway.pid, 'SIGUSR2');
  const r = rate > 0
    ? await paced({ url, rate, seconds: s.profileSeconds, requests, stream })
    : await saturate({ url, connections: s.connections, seconds: s.profileSeconds, requests, stream });
  process.kill(gateway.pid, 'SIGUSR2');
  for (let waited = 0; !existsSync(file) && waited < 60_000; waited += 100) await sleep(100);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: AllocNode };

  const locate = frameLocator(ROOT);
  const byFunction = new Map<string, { name: string; where: string; pkg: string; bytes: number }>();
  const byPackage = new Map<string, number>();
  let total = 0;
  const walk = (node: AllocNode) => {
    if (node.selfSize > 0) {
      const f = locate(node.callFrame);
      const key = `${f.name}@${f.where}`;
      const entry = byFunction.get(key) ?? { ...f, bytes: 0 };
      entry.bytes += node.selfSize;
      byFunction.set(key, entry);
      byPackage.set(f.pkg, (byPackage.get(f.pkg) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const c of node.children) walk(c);
  };
  walk(profile.head);

  const answers = Math.max(1, r.ok);
  const kb = (bytes: number) => (bytes / answers / 1024).toFixed(2);
  const pct = (bytes: number) => `${((100 * bytes) / total).toFixed(1)}%`;
  const md = [
    `# Gateway ${survivors ? 'survivors of a scavenge' : 'allocations'}: ${stream ? `stream (${s.streamChunks} chunks)` : 'non-stream'} ${rate > 0 ? `at ${rate} req/s` : 'saturation'}`,
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · Node ${process.versions.node}`,
    '',
    `${rate > 0 ? `${rate} req/s paced` : `${s.connections} connections`}, ${r.seconds.toFixed(1)} s, ${r.ok} answers (${r.rps.toFixed(0)} req/s), errors ${r.non2xx}/${r.errors}/${r.mismatches}, ` +
      `after ${warmedUp} s of warm-up. V8's sampling heap profiler (every 4 KB on average, ` +
      (survivors ? `objects a scavenge collected left out): **${kb(total)} KB per answer outlived a scavenge**.` : `collected objects included): **${kb(total)} KB allocated per answer**.`),
    '',
    '| package / area | KB per answer | share |',
    '|---|---:|---:|',
    ...[...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([pkg, bytes]) => `| ${pkg} | ${kb(bytes)} | ${pct(bytes)} |`),
    '',
    '| function | where | KB per answer | share |',
    '|---|---|---:|---:|',
    ...[...byFunction.values()].sort((a, b) => b.bytes - a.bytes).slice(0, 40).map((f) => `| ${f.name} | ${f.where} | ${kb(f.bytes)} | ${pct(f.bytes)} |`),
    '',
  ].join('\n');
  const outDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `alloc${survivors ? '-survivors' : ''}${stream ? '-stream' : ''}-latest.md`), md);
  process.stdout.write(md);
} finally {
  await stack.stop();
}
