/**
 * The usage queue: requests enqueue records; a timer writes them in batches (LYSS_USAGE_FLUSH_MS,
 * LYSS_USAGE_BATCH_SIZE). A failed batch goes back to the head of the queue and is retried, so a database
 * outage delays records but loses none. The queue is bounded: when full the relay refuses new requests
 * (it never drops what it served). On close, whatever cannot be written is spilled to a file that the
 * next start replays. A record the database refuses for good (a data error, not an outage) is written alone,
 * degraded if need be, so it never holds back the records behind it.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import type { Logger } from '../logger.js';
import path from 'node:path';
import { newBatchId, type UsageRecord } from './usage-record.js';

/** Where records that could not be written before exit wait for the next start; null for a memory:// folder. */
export function spillFileFor(dataDir: string): string | null {
  return dataDir.includes('://') ? null : path.join(dataDir, 'usage-spill.jsonl');
}

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
  /** Quota units of queued records (not yet in PostgreSQL) charged to this token or channel. */
  pendingCost(kind: 'token' | 'channel', id: string): number;
  /** A queued record (not yet in PostgreSQL) adds to this user's conversation. */
  holdsConversation(userId: string, conversationId: string): boolean;
}

export interface RecorderOptions {
  /** Writes the batch; a second call with the same id must change nothing (see usage-repo.ts). */
  write: (batch: UsageRecord[], batchId: string) => Promise<void>;
  logger: Logger;
  flushMs: number;
  batchSize: number;
  maxQueue: number;
  /** JSON-lines file for records that could not be written before exit; null disables spilling. */
  spillFile: string | null;
}

/**
 * SQLSTATE classes 21 (cardinality violation: one conversation id under two tenants in a batch, see
 * usage-repo), 22 (data exception) and 23 (integrity constraint violation): the same rows fail the same way on
 * every retry. Anything else (connection, timeout, shutdown) is worth retrying.
 */
export function isDataError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^2[1-3][0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
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

  /** Drops the first `n` queued records: `stored` of them are in the database, the rest were refused for good. */
  function done(n: number, stored = n): void {
    queue = queue.slice(n);
    written += stored;
  }

  function flushOnce(): Promise<void> {
    if (flushing) return flushing;
    const head = queue[0];
    if (!head) return Promise.resolve();
    // A batch whose write failed is retried as it was (its records carry its id), else up to batchSize new ones.
    let size = 0;
    if (head.batchId) while (size < queue.length && queue[size]!.batchId === head.batchId) size++;
    else while (size < queue.length && size < opts.batchSize && !queue[size]!.batchId) size++;
    const id = head.batchId ?? newBatchId();
    const batch = queue.slice(0, size);
    flushing = (async () => {
      try {
        await opts.write(batch, id);
        // Only now leave the queue: a failed write keeps them at the head, in order.
        done(batch.length);
      } catch (err) {
        if (!isDataError(err)) {
          for (const record of batch) record.batchId = id;
          throw err;
        }
        // The database refused something in the batch for good (so nothing of it was written under its id):
        // retrying the batch would refuse it forever and hold back every record queued behind it. Write the
        // records one by one, so only the bad one is affected.
        opts.logger.warn('usage batch refused by the database; writing its records one by one', { err, count: batch.length });
        for (const record of batch) delete record.batchId;
        for (const record of batch) {
          const recordId = newBatchId();
          try {
            done(1, (await writeAlone(record, recordId)) ? 1 : 0);
          } catch (e) {
            record.batchId = recordId;
            throw e;
          }
        }
      }
    })().finally(() => {
      flushing = null;
    });
    return flushing;
  }

  /**
   * One record, degraded step by step until the database takes it: whole; without its messages; spend only.
   * A connection failure throws (the record stays queued); a record refused even as spend only is logged whole.
   */
  async function writeAlone(record: UsageRecord, id: string): Promise<boolean> {
    const variants: UsageRecord[] = [record];
    if (record.conversation) {
      variants.push({ ...record, conversation: { ...record.conversation, messages: [] } }, { ...record, conversation: null });
    }
    let last: unknown = null;
    for (const [i, variant] of variants.entries()) {
      try {
        // One id for every variant: a refused one wrote nothing under it, and after a lost reply the retry is
        // skipped whichever variant went through.
        await opts.write([variant], id);
        if (i > 0) opts.logger.error('usage record written without part of its content, which the database refused', { err: last, kept: i === 1 ? 'counters and conversation' : 'spend only', record });
        return true;
      } catch (err) {
        if (!isDataError(err)) throw err;
        last = err;
      }
    }
    opts.logger.error('usage record refused by the database; it is not recorded', { err: last, record });
    return false;
  }

  async function flushAll(): Promise<void> {
    while (queue.length > 0) {
      await flushOnce();
    }
    if (flushing) await flushing;
  }

  function replaySpill(): void {
    if (!opts.spillFile || !existsSync(opts.spillFile)) return;
    // Per process: workers sharing a data folder start together, and only one of them may take the file.
    const replaying = `${opts.spillFile}.${process.pid}.replay`;
    try {
      renameSync(opts.spillFile, replaying);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const lines = readFileSync(replaying, 'utf8').split('\n').filter(Boolean);
    for (const line of lines) queue.push(JSON.parse(line) as UsageRecord);
    unlinkSync(replaying);
    opts.logger.info('replaying spilled usage records', { count: lines.length });
  }

  function spill(records: UsageRecord[]): void {
    appendFileSync(opts.spillFile!, records.map((r) => JSON.stringify(r)).join('\n') + '\n', { mode: 0o600 });
    opts.logger.error('usage records spilled to disk; they are written at the next start', { count: records.length, file: opts.spillFile });
  }

  return {
    enqueue(record) {
      if (closed && opts.spillFile) {
        // A request that outlived shutdown's deadline: nothing will flush the queue any more.
        spill([record]);
        return;
      }
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
    pendingCost(kind, id) {
      let cost = 0;
      for (const r of queue) if ((kind === 'token' ? r.tokenId : r.channelId) === id) cost += r.cost;
      return cost;
    },
    holdsConversation(userId, conversationId) {
      return queue.some((r) => r.conversation?.id === conversationId && r.userId === userId);
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
        spill(queue);
        queue = [];
      }
    },
  };
}
