/**
 * The usage queue: requests enqueue records; a timer writes them in batches (LYSS_USAGE_FLUSH_MS,
 * LYSS_USAGE_BATCH_SIZE). A failed batch goes back to the head of the queue and is retried, so a database
 * outage delays records but loses none. The queue is bounded: when full the relay refuses new requests
 * (it never drops what it served). On close, whatever cannot be written is spilled to a file that the
 * next start replays.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import type { Logger } from '../logger.js';
import type { UsageRecord } from './usage-record.js';

export interface UsageRecorder {
  enqueue(record: UsageRecord): void;
  /** Records not yet written. */
  readonly pending: number;
  /** True when the queue reached its bound: new requests must be refused. */
  readonly full: boolean;
  /** Writes everything queued now; rejects if the database refuses. */
  flush(): Promise<void>;
  /** Stops the timer, writes what it can within `deadlineMs`, spills the rest to disk. */
  close(deadlineMs?: number): Promise<void>;
  /** Records written since start (metrics, benchmarks). */
  readonly written: number;
}

export interface RecorderOptions {
  write: (batch: UsageRecord[]) => Promise<void>;
  logger: Logger;
  flushMs: number;
  batchSize: number;
  maxQueue: number;
  /** JSON-lines file for records that could not be written before exit; null disables spilling. */
  spillFile: string | null;
}

export function createUsageRecorder(opts: RecorderOptions): UsageRecorder {
  let queue: UsageRecord[] = [];
  let written = 0;
  let flushing: Promise<void> | null = null;
  let failures = 0;
  let closed = false;

  replaySpill();

  const timer = setInterval(() => void tick(), opts.flushMs);
  timer.unref();

  async function tick(): Promise<void> {
    if (flushing || queue.length === 0) return;
    try {
      await flushOnce();
      failures = 0;
    } catch (err) {
      failures++;
      if (failures === 1 || failures % 20 === 0) opts.logger.error('usage batch write failed; will retry', { err, pending: queue.length });
    }
  }

  function flushOnce(): Promise<void> {
    if (flushing) return flushing;
    const batch = queue.slice(0, opts.batchSize);
    if (batch.length === 0) return Promise.resolve();
    flushing = opts
      .write(batch)
      .then(() => {
        // Only now leave the queue: a failed write keeps them at the head, in order.
        queue = queue.slice(batch.length);
        written += batch.length;
      })
      .finally(() => {
        flushing = null;
      });
    return flushing;
  }

  async function flushAll(): Promise<void> {
    while (queue.length > 0) {
      await flushOnce();
    }
    if (flushing) await flushing;
  }

  function replaySpill(): void {
    if (!opts.spillFile || !existsSync(opts.spillFile)) return;
    const replaying = `${opts.spillFile}.replay`;
    renameSync(opts.spillFile, replaying);
    const lines = readFileSync(replaying, 'utf8').split('\n').filter(Boolean);
    for (const line of lines) queue.push(JSON.parse(line) as UsageRecord);
    unlinkSync(replaying);
    opts.logger.info('replaying spilled usage records', { count: lines.length });
  }

  return {
    enqueue(record) {
      queue.push(record);
      if (queue.length >= opts.batchSize && !flushing) void tick();
    },
    get pending() {
      return queue.length;
    },
    get full() {
      return queue.length >= opts.maxQueue;
    },
    get written() {
      return written;
    },
    flush: flushAll,
    async close(deadlineMs = 10_000) {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      const deadline = Date.now() + deadlineMs;
      while (queue.length > 0 && Date.now() < deadline) {
        try {
          await flushAll();
        } catch (err) {
          opts.logger.warn('usage flush at shutdown failed; retrying', { err, pending: queue.length });
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      if (flushing) await flushing.catch(() => {});
      if (queue.length > 0 && opts.spillFile) {
        appendFileSync(opts.spillFile, queue.map((r) => JSON.stringify(r)).join('\n') + '\n', { mode: 0o600 });
        opts.logger.error('usage records spilled to disk; they are written at the next start', { count: queue.length, file: opts.spillFile });
        queue = [];
      }
    },
  };
}
