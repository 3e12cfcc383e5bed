/**
 * What the tokenizer's merge cache costs and buys: the gateway's own countText (src/relay/tokenize.ts) in a
 * fresh process per cache size, on texts the gateway's whole-text cache has not seen (so every one is
 * tokenized): first 200,000 distinct identifier-like words (logs, code, ids: each fills a cache entry), then a
 * 2,000-word document sent 50 times with a different last word each time (a long history resent every turn,
 * one turn longer each time: the whole-text cache misses, the merge cache decides). Prints heap and RSS growth
 * after a full GC, and the time of each part.
 * `node --import tsx bench/tokenizer-cache.ts`
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SIZES = [100_000, 0];

async function measure(size: number | null): Promise<void> {
  const { countText } = await import('../src/relay/tokenize.js');
  if (size !== null) (await import('../src/relay/o200k.js')).o200k.setMergeCacheSize(size);
  const gc = globalThis.gc!;
  const mem = () => {
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss / 1e6, heap: m.heapUsed / 1e6 };
  };
  // Deterministic words of 8–16 letters and digits: most split into several BPE tokens, like real identifiers.
  let seed = 1;
  const word = () => {
    let w = ' ';
    const n = 8 + ((seed >>> 0) % 9);
    for (let i = 0; i < n; i++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      w += 'abcdefghijklmnopqrstuvwxyz0123456789'[(seed >>> 0) % 36];
    }
    return w;
  };
  countText('warm up');
  const before = mem();
  let t = performance.now();
  for (let i = 0; i < 1_000; i++) countText(Array.from({ length: 200 }, word).join(''));
  const distinctMs = performance.now() - t;
  const after = mem();
  const document = Array.from({ length: 2_000 }, word).join('');
  t = performance.now();
  for (let i = 0; i < 50; i++) countText(`${document} turn${i}`);
  const resentMs = performance.now() - t;
  process.stdout.write(JSON.stringify({ heapMb: after.heap - before.heap, rssMb: after.rss - before.rss, distinctMs, resentMs }));
}

if (process.argv[2] === 'child') {
  await measure(process.argv[3] === 'ours' ? null : Number(process.argv[3]));
} else {
  const self = fileURLToPath(import.meta.url);
  console.log('| merge cache entries | heap growth MB | RSS growth MB | 200,000 distinct words ms | one 2,000-word document × 50, a word added each time, ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const size of ['ours', ...SIZES.map(String)]) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, 'child', size], { encoding: 'utf8' });
    const r = JSON.parse(out) as { heapMb: number; rssMb: number; distinctMs: number; resentMs: number };
    const label = size === 'ours' ? '10,000 (the gateway)' : size === '100000' ? '100,000 (the library default)' : size;
    console.log(`| ${label} | ${r.heapMb.toFixed(1)} | ${r.rssMb.toFixed(0)} | ${r.distinctMs.toFixed(0)} | ${r.resentMs.toFixed(0)} |`);
  }
}
