/**
 * The event loop answers requests; the process's other threads (V8's garbage collector and compiler workers,
 * libuv's pool) do work that can wait a little. On cores shared with PostgreSQL, Redis and the clients, one of
 * them woken beside the event loop took its core from it, and the answers in flight waited behind it: on the
 * slowest 1 % at 500 req/s the event loop was mostly not running at all (bench/tail.ts). Lowering the other
 * threads' priority (a higher nice value: no privilege needed, and threads created later from the event loop
 * keep its own) took ~0.5 ms off that p99 (medians of three bench:ab runs; better in 15 of 22 pairs) at no cost
 * to throughput (bench/README, thirteenth round). The price: V8's parallel scavenge waits for its helpers, and
 * one starved by another process lengthens that pause (mean 2.2-2.8 ms -> 2.6-4.2 at 500 req/s).
 * Threads created after the call (libuv's pool, if the start did not use it) keep the event loop's priority.
 * Linux only: elsewhere setpriority() does not take a thread id.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * Gives every thread of this process but the event loop's the nice value `nice`, unless already lower in
 * priority; returns how many it lowered. Nothing when /proc cannot be read, or counts pids of another
 * namespace than process.pid (the event loop's thread could not be told apart).
 */
export function lowerBackgroundThreads(nice: number): number {
  if (process.platform !== 'linux' || nice <= 0) return 0;
  let tids: number[];
  try {
    if (readlinkSync('/proc/self') !== String(process.pid)) return 0;
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    return 0;
  }
  let lowered = 0;
  for (const tid of tids) {
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
