/**
 * Where the gateway's memory goes: the stack of run.ts (mock, PostgreSQL, Redis, the seeded table), one gateway
 * with bench/heap-report.cjs preloaded, and its RSS, V8 heap spaces and resident size by mapping at four
 * moments: ready, after the warm-up, while the open streams of scenario 4 are all open, after them.
 * BENCH_MEMORY_SNAPSHOT=1 also takes a heap snapshot while the streams are open and summarises it by
 * constructor (self sizes), which names what each open stream holds; writing it stops the gateway for a while,
 * so streams then fail and the figures after it are not a normal run's; BENCH_MEMORY_SNAPSHOT_KEEP=<file> keeps the
 * snapshot there (open it in Chrome's DevTools). Writes bench/results/memory-latest.md.
 * `npm run build && npm run bench:memory`
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStreams, saturate, type StreamsResult } from './load.js';
import { ROOT, rssBytes, sleep } from './procs.js';
import { startProfileStack } from './profile-stack.js';
import { requestVariants } from './seed.js';
import { summarizeHeapSnapshot, type HeapKinds } from './heap-snapshot-summary.js';

interface Report {
  label: string;
  rssMb: number;
  heapUsedMb: number;
  spaces: Record<string, { sizeMb: number; usedMb: number }>;
  residentByMapping: Record<string, number>;
  snapshot: string | null;
}

const snapshotWanted = process.env.BENCH_MEMORY_SNAPSHOT === '1';
const stack = await startProfileStack('memory', () => ['--require', path.join(ROOT, 'bench', 'heap-report.cjs')]);
const { s, seed, gateway, url } = stack;
const dataDir = path.join(stack.workDir, 'data');
mkdirSync(dataDir, { recursive: true });
const reportFile = path.join(dataDir, 'heap-report.jsonl');
const reports: Report[] = [];

/** Asks the gateway for a report (SIGUSR2) and waits for its line. */
async function report(label: string, snapshot = false): Promise<void> {
  if (snapshot) writeFileSync(path.join(dataDir, 'snapshot-next'), '');
  const before = existsSync(reportFile) ? readFileSync(reportFile, 'utf8').split('\n').filter(Boolean).length : 0;
  process.kill(gateway.pid, 'SIGUSR2');
  // A heap snapshot stops the gateway for as long as it takes to write (minutes with thousands of streams open).
  for (let waited = 0; waited < 600_000; waited += 100) {
    if (gateway.proc.exitCode !== null) break;
    await sleep(100);
    const lines = existsSync(reportFile) ? readFileSync(reportFile, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length > before) {
      reports.push({ label, ...(JSON.parse(lines[lines.length - 1]!) as Omit<Report, 'label'>) });
      return;
    }
  }
  throw new Error(`no memory report from the gateway for "${label}"`);
}

let streams: StreamsResult;
let peakRssMb = 0;
let snapshotKinds: HeapKinds | null = null;
try {
  await report('ready');
  for (const stream of [false, true]) {
    await saturate({ url, connections: s.connections, seconds: s.warmupSeconds, requests: requestVariants(seed.tokens, { stream }), stream });
  }
  await report('after the warm-up');
  const sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, (rssBytes(gateway.pid) ?? 0) / 1e6)), 100);
  const port = Number(new URL(url).port);
  const slow = requestVariants(seed.tokens, { stream: true, slow: { chunks: s.slowChunks, delayMs: s.slowDelayMs } });
  const running = openStreams({ port, path: '/v1/chat/completions', count: s.openStreams, rampMs: s.openStreamsRampMs, requests: slow, timeoutMs: 600_000 });
  // Midway through the streams opened last: every stream open at once, if the gateway keeps up.
  await sleep(s.openStreamsRampMs + (s.slowChunks * s.slowDelayMs) / 2);
  // Writing a snapshot takes the gateway's RSS far above anything a stream does: the peak stops before it.
  if (snapshotWanted) clearInterval(sampler);
  await report("with the streams open", snapshotWanted);
  streams = await running;
  clearInterval(sampler);
  await report('after the streams');
  const snap = reports.find((r) => r.snapshot)?.snapshot;
  // Before stop(), which removes the work dir the snapshot is in.
  if (snap) snapshotKinds = summarizeHeapSnapshot(snap);
  if (snap && process.env.BENCH_MEMORY_SNAPSHOT_KEEP) copyFileSync(snap, process.env.BENCH_MEMORY_SNAPSHOT_KEEP);
} finally {
  await stack.stop();
}

const spaceRow = (r: Report, name: string) => (r.spaces[name] ? `${r.spaces[name].usedMb} / ${r.spaces[name].sizeMb}` : '–');
const mappingRow = (r: Report, name: string) => (r.residentByMapping[name] ?? 0).toFixed(1);
const lines = [
  '# Gateway memory: where it goes',
  '',
  `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · Node ${process.versions.node} · ` +
    `${stack.pg ? `PostgreSQL ${stack.pg}` : 'PGlite (fallback)'} · ${stack.redis ? `Redis ${stack.redis}` : 'in-process store (fallback)'}`,
  '',
  `Warm-up ${s.warmupSeconds} s non-stream + ${s.warmupSeconds} s stream at ${s.connections} connections; then ${s.openStreams} streams ` +
    `(${s.slowChunks} chunks, one every ${s.slowDelayMs} ms, opened over ${s.openStreamsRampMs} ms): ${streams!.ok} ok, ` +
    `${streams!.non2xx} non-2xx, ${streams!.errors} errors, at most ${streams!.peakOpen} open at once, first byte p50 ${streams!.ttfbP50.toFixed(0)} ms; ` +
    `peak RSS ${peakRssMb.toFixed(0)} MB${snapshotWanted ? ' (until the snapshot, which stops the gateway for a while: the streams then fall behind, and the last row is not a normal run\'s)' : ''}.`,
  '',
  'MB; heap spaces as used / committed.',
  '',
  '| moment | RSS | V8 heap used | new space | old space | large objects | code | node binary | anonymous | glibc heap |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...reports.map(
    (r) =>
      `| ${r.label} | ${r.rssMb} | ${r.heapUsedMb} | ${spaceRow(r, 'new_space')} | ${spaceRow(r, 'old_space')} | ${spaceRow(r, 'large_object_space')} | ` +
      `${spaceRow(r, 'code_space')} | ${mappingRow(r, process.execPath)} | ${mappingRow(r, '[anonymous]')} | ${mappingRow(r, '[heap]')} |`,
  ),
];
if (snapshotKinds) {
  const summary = snapshotKinds;
  lines.push('', `Heap snapshot while the streams were open: ${(summary.totalBytes / 1e6).toFixed(1)} MB in ${summary.nodes.toLocaleString('en-US')} objects. Largest kinds by self size:`, '');
  lines.push('| kind | MB | objects |', '|---|---:|---:|', ...summary.top.slice(0, 25).map((k) => `| ${k.name.replaceAll('|', '\\|')} | ${(k.bytes / 1e6).toFixed(2)} | ${k.count.toLocaleString('en-US')} |`));
  lines.push(
    '',
    'What holds it: the memory each object keeps alive (its retained size), summed over the objects only the GC roots hold, by kind; ' +
      "a function's scope is named by its first variables. A kind held about once per open stream shows what a stream costs, and whose it is.",
    '',
    '| held by | MB | objects | KB each |',
    '|---|---:|---:|---:|',
    ...summary.holders
      .slice(0, 25)
      .map((k) => `| ${k.name.replaceAll('|', '\\|')} | ${(k.bytes / 1e6).toFixed(2)} | ${k.count.toLocaleString('en-US')} | ${(k.bytes / k.count / 1e3).toFixed(2)} |`),
  );
}
const md = lines.join('\n') + '\n';
const outDir = process.env.BENCH_OUT_DIR ?? path.join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'memory-latest.md'), md);
process.stdout.write(md);
