// Preloaded into the gateway by alloc-profile.ts (`node --require`): the first SIGUSR2 starts V8's sampling heap
// profiler, the second stops it and writes alloc.heapprofile to LYSS_DATA_DIR. It counts every allocation,
// or, when a file named `alloc-survivors` is beside it, only what outlived a scavenge (what the scavenger
// copied and promoted). Never loaded by the gateway itself.
const fs = require('node:fs');
const path = require('node:path');
const inspector = require('node:inspector');

const session = new inspector.Session();
session.connect();
let running = false;

process.on('SIGUSR2', () => {
  const dir = process.env.LYSS_DATA_DIR;
  if (!running) {
    running = true;
    const all = !fs.existsSync(path.join(dir, 'alloc-survivors'));
    session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: all });
    return;
  }
  running = false;
  session.post('HeapProfiler.stopSampling', (err, result) => {
    // The tree only (each node's selfSize already sums its samples); written whole, then renamed into place.
    const file = path.join(dir, 'alloc.heapprofile');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(err ? { error: String(err) } : { head: result.profile.head }));
    fs.renameSync(`${file}.tmp`, file);
  });
});
