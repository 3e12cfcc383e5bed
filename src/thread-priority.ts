/**
 * The event loop answers requests; the process's other threads (V8's garbage collector and compiler workers,
 * libuv's pool) do work that can wait a little. On cores shared with PostgreSQL, Redis and the clients, one of
 * them woken beside the event loop took its core from it, and the answers in flight waited behind it: on the
 * slowest 1 % at 500 req/s the event loop was mostly not running at all (bench/tail.ts). Lowering the other
 * threads' priority (a higher nice value: no privilege needed, and threads created later from the event loop
 * keep its own) took ~0.5 ms off that p99 (medians of three bench:ab runs; better in 15 of 22 pairs) at no cost
 * to throughput (bench/README, thirteenth round).
 * Linux only: elsewhere setpriority() does not take a thread id.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Gives every thread of this process but the event loop's the nice value `nice`, unless already lower in priority; returns how many it lowered. */
export function lowerBackgroundThreads(nice: number): number {
  if (process.platform !== 'linux' || nice <= 0) return 0;
  let lowered = 0;
  for (const entry of readdirSync('/proc/self/task')) {
    const tid = Number(entry);
    if (tid === process.pid) continue;
    try {
      if (getPriority(tid) >= nice) continue;
      setPriority(tid, nice);
      lowered++;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return lowered;
}
