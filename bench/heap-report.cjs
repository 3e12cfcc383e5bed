// Preloaded into the gateway by memory-probe.ts (`node --require`): on SIGUSR2 it appends the process's memory
// (RSS, V8 heap spaces, resident size by mapping) to heap-report.jsonl in LYSS_DATA_DIR, and writes a heap
// snapshot there first when a file named `snapshot-next` exists beside it. Never loaded by the gateway itself.
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');

const dir = process.env.LYSS_DATA_DIR;
const MB = 1e6;

/** Resident kilobytes by mapping (the node binary, anonymous memory, glibc's heap, ...), from /proc/self/smaps. */
function residentByMapping() {
  const out = {};
  let current = '';
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) current = line.split(/\s+/)[5] || '[anonymous]';
    else if (line.startsWith('Rss:')) out[current] = (out[current] || 0) + Number(line.split(/\s+/)[1]) / 1000;
  }
  return Object.fromEntries(Object.entries(out).filter(([, mb]) => mb >= 1).map(([k, mb]) => [k, +mb.toFixed(1)]));
}

process.on('SIGUSR2', () => {
  fs.mkdirSync(dir, { recursive: true });
  // The figures first: writing a snapshot stops the process and swells glibc's heap for a while.
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(
    v8.getHeapSpaceStatistics().filter((s) => s.space_size > 0).map((s) => [s.space_name, { sizeMb: +(s.space_size / MB).toFixed(1), usedMb: +(s.space_used_size / MB).toFixed(1) }]),
  );
  const report = { at: Date.now(), rssMb: +(m.rss / MB).toFixed(1), heapUsedMb: +(m.heapUsed / MB).toFixed(1), spaces, residentByMapping: residentByMapping(), snapshot: null };
  const marker = path.join(dir, 'snapshot-next');
  if (fs.existsSync(marker)) {
    fs.unlinkSync(marker);
    report.snapshot = v8.writeHeapSnapshot(path.join(dir, `gateway-${Date.now()}.heapsnapshot`));
  }
  fs.appendFileSync(path.join(dir, 'heap-report.jsonl'), JSON.stringify(report) + '\n');
});
