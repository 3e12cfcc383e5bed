/**
 * The usage queue (src/usage/usage-recorder.ts): an outage keeps every record queued, in order, and writes
 * each exactly once when the database returns; a record the database refuses for good is isolated
 * (degraded step by step) instead of jamming the queue behind it.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createUsageRecorder, isDataError } from '../../../src/usage/usage-recorder.js';
import type { UsageRecord } from '../../../src/usage/usage-record.js';
import type { Logger } from '../../../src/logger.js';

function record(n: number, messages = 1): UsageRecord {
  return {
    tenantId: 't',
    tokenId: 'tok',
    userId: 'u',
    channelId: 'c',
    cost: n,
    promptTokens: n,
    completionTokens: 0,
    model: 'm',
    at: new Date(1_700_000_000_000 + n).toISOString(),
    conversation: { id: `conv-${n}`, title: 't', systemPrompt: null, messages: Array.from({ length: messages }, () => ({ role: 'user', content: `msg ${n}`, tokenCount: 1 })), messageCount: messages },
  };
}

function logger() {
  const lines: { level: string; msg: string }[] = [];
  const log = (level: string) => (msg: string) => void lines.push({ level, msg });
  return { lines, logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') } as Logger };
}

/** A recorder with no timer (each test flushes) and no spill file, writing through `write`. */
function recorderWith(write: (batch: UsageRecord[], batchId: string) => Promise<void>, batchSize = 10) {
  const { lines, logger: log } = logger();
  const rec = createUsageRecorder({ logger: log, flushMs: 1_000_000, batchSize, maxQueue: 100, spillFile: null, write });
  return { rec, lines };
}

const dataError = (code: string) => Object.assign(new Error('Failed query'), { cause: Object.assign(new Error('violates'), { code }) });

describe('usage recorder', () => {
  it('classifies SQLSTATE classes 21, 22 and 23 (directly or as a cause) as data errors, nothing else', () => {
    expect(isDataError(dataError('23503'))).toBe(true);
    expect(isDataError(Object.assign(new Error('x'), { code: '22021' }))).toBe(true);
    expect(isDataError(Object.assign(new Error('x'), { code: '21000' }))).toBe(true);
    expect(isDataError(Object.assign(new Error('x'), { code: '20000' }))).toBe(false);
    expect(isDataError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isDataError(Object.assign(new Error('x'), { code: '57P01' }))).toBe(false);
    expect(isDataError(new Error('plain'))).toBe(false);
  });

  it('an outage keeps the records queued; they are written once, in order, when the database returns', async () => {
    const writes: number[][] = [];
    let down = true;
    const { rec } = recorderWith(async (batch) => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      writes.push(batch.map((r) => r.cost));
    }, 2);
    for (const n of [1, 2, 3]) rec.enqueue(record(n));
    await expect(rec.flush()).rejects.toThrow('ECONNREFUSED');
    expect(rec.pending).toBe(3);
    down = false;
    await rec.flush();
    expect(writes).toEqual([[1, 2], [3]]);
    expect(rec.pending).toBe(0);
    expect(rec.written).toBe(3);
    await rec.close();
  });

  it('retries a failed batch as it was, under the same id, however many records arrived meanwhile', async () => {
    // The database may have committed the batch and lost only its reply: the retry must be the same batch
    // under the same id, which the database then skips (usage-repo.ts, migration 0009).
    const calls: { id: string; costs: number[] }[] = [];
    let failures = 1;
    const { rec } = recorderWith(async (batch, id) => {
      calls.push({ id, costs: batch.map((r) => r.cost) });
      if (failures-- > 0) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'CONNECTION_CLOSED' });
    }, 3);
    for (const n of [1, 2]) rec.enqueue(record(n));
    await expect(rec.flush()).rejects.toThrow('Connection terminated');
    for (const n of [3, 4, 5]) rec.enqueue(record(n));
    await rec.flush();
    expect(calls.map((c) => c.costs)).toEqual([[1, 2], [1, 2], [3, 4, 5]]);
    expect(calls[1]!.id).toBe(calls[0]!.id);
    expect(calls[2]!.id).not.toBe(calls[0]!.id);
    expect(rec.written).toBe(5);
    await rec.close();
  });

  it('a batch spilled at shutdown while it was being retried is written at the next start under its id', async () => {
    const spillFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'lyss-spill-')), 'usage-spill.jsonl');
    const calls: { id: string; costs: number[] }[] = [];
    let down = true;
    const write = async (batch: UsageRecord[], id: string) => {
      calls.push({ id, costs: batch.map((r) => r.cost) });
      if (down) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'CONNECTION_CLOSED' });
    };
    const options = { logger: logger().logger, flushMs: 1_000_000, batchSize: 2, maxQueue: 100, spillFile, write };
    const first = createUsageRecorder(options);
    for (const n of [1, 2, 3]) first.enqueue(record(n));
    await expect(first.flush()).rejects.toThrow('Connection terminated');
    await first.close(0);
    down = false;
    const second = createUsageRecorder(options);
    await second.flush();
    // [1, 2] failed under one id (perhaps committed, reply lost): after the restart it goes again under that
    // id, which the database would skip; 3 was never tried and gets a batch of its own.
    const failed = calls[0]!;
    expect(failed.costs).toEqual([1, 2]);
    expect(calls.at(-2)).toEqual({ id: failed.id, costs: [1, 2] });
    expect(calls.at(-1)!.costs).toEqual([3]);
    expect(calls.at(-1)!.id).not.toBe(failed.id);
    expect(second.pending).toBe(0);
    await second.close();
  });

  it('a record written alone keeps one id through its degraded variants and its retry', async () => {
    const calls: { id: string; messages: number }[] = [];
    let cut = true;
    const { rec } = recorderWith(async (batch, id) => {
      calls.push({ id, messages: batch[0]!.conversation?.messages.length ?? -1 });
      if (batch.length > 1 || (batch[0]!.conversation?.messages.length ?? 0) > 0) throw dataError('22021');
      if (cut) {
        cut = false;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'CONNECTION_CLOSED' });
      }
    });
    rec.enqueue(record(1));
    rec.enqueue(record(2));
    await expect(rec.flush()).rejects.toThrow('Connection terminated');
    await rec.flush();
    // The batch; record 1 whole, then without messages (cut); then the retry under that same id, which the
    // database would skip had the cut write gone through (here it did not: refused again, record 1 is written
    // alone under a new id); record 2 under its own.
    const first = calls[1]!.id;
    expect(calls.slice(1, 4).map((c) => c.id)).toEqual([first, first, first]);
    expect(calls[3]!.messages).toBe(1);
    expect(calls.slice(4).every((c) => c.id !== first)).toBe(true);
    expect(rec.pending).toBe(0);
    await rec.close();
  });

  it("holds a conversation while one of its records waits, until that record's row is committed", async () => {
    let commit!: () => void;
    const { rec } = recorderWith(() => new Promise<void>((done) => (commit = done)));
    rec.enqueue(record(1));
    expect(rec.holdsConversation('u', 'conv-1')).toBe(true);
    expect(rec.holdsConversation('another user', 'conv-1')).toBe(false);
    expect(rec.holdsConversation('u', 'conv-2')).toBe(false);
    const flushed = rec.flush();
    expect(rec.holdsConversation('u', 'conv-1')).toBe(true); // being written, not yet committed
    commit();
    await flushed;
    expect(rec.holdsConversation('u', 'conv-1')).toBe(false);
    await rec.close();
  });

  it('a record refused for good is written alone, degraded, and the rest go through', async () => {
    const writes: { cost: number; messages: number | null }[] = [];
    const { rec, lines } = recorderWith(async (batch) => {
      // Record 2's messages can never be stored; record 4 cannot be stored at all.
      if (batch.some((r) => r.cost === 4)) throw dataError('22P05');
      if (batch.some((r) => r.cost === 2 && (r.conversation?.messages.length ?? 0) > 0)) throw dataError('22021');
      for (const r of batch) writes.push({ cost: r.cost, messages: r.conversation ? r.conversation.messages.length : null });
    });
    for (const n of [1, 2, 3, 4, 5]) rec.enqueue(record(n));
    await rec.flush();
    expect(writes).toEqual([
      { cost: 1, messages: 1 },
      { cost: 2, messages: 0 },
      { cost: 3, messages: 1 },
      { cost: 5, messages: 1 },
    ]);
    expect(rec.pending).toBe(0);
    expect(rec.written).toBe(4);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      'usage record written without part of its content, which the database refused',
      'usage record refused by the database; it is not recorded',
    ]);
    await rec.close();
  });

  it('an outage in the middle of writing one by one keeps exactly the unwritten records', async () => {
    const writes: number[] = [];
    let calls = 0;
    let down = false;
    let lost = false;
    const { rec } = recorderWith(async (batch) => {
      calls++;
      if (down) throw new Error('connection lost');
      if (batch.length > 1) throw dataError('23503');
      if (batch[0]!.cost === 3 && !lost) {
        lost = true;
        down = true;
        throw new Error('connection lost');
      }
      writes.push(batch[0]!.cost);
    });
    for (const n of [1, 2, 3, 4]) rec.enqueue(record(n));
    await expect(rec.flush()).rejects.toThrow('connection lost');
    expect(writes).toEqual([1, 2]);
    expect(rec.pending).toBe(2);
    down = false;
    await rec.flush().catch(() => {});
    // 3 and 4 again: the batch [3, 4] is refused as a whole (data error), then each alone; 3 now succeeds.
    expect(writes).toEqual([1, 2, 3, 4]);
    expect(rec.pending).toBe(0);
    expect(calls).toBeGreaterThan(4);
    await rec.close();
  });
});
