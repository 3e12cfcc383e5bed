/**
 * A fresh gateway is slow for seconds (JIT, and caches it fills per process: principals, lease baselines,
 * remembered prompt-token counts). Warms it up in slices until its CPU per answer falls by less than 10 %, or
 * the bound; `slice` runs one slice and returns its CPU µs per answer. Returns the seconds spent.
 */
export const WARMUP_MAX_SECONDS = 60;

export async function warmUntilSteady(sliceSeconds: number, slice: () => Promise<number>): Promise<number> {
  let seconds = 0;
  for (let prev = Infinity; seconds < WARMUP_MAX_SECONDS; ) {
    const us = await slice();
    seconds += sliceSeconds;
    if (!(us < prev * 0.9)) break;
    prev = us;
  }
  return seconds;
}
