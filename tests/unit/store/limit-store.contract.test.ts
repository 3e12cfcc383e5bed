/** One contract for every LimitStore backend: the in-process store always, Redis when REDIS_URL is set. */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import type { AdmitResult, LimitStore } from '../../../src/store/limit-store.js';
import { createMemoryStore } from '../../../src/store/memory-store.js';
import { createRedisStore } from '../../../src/store/redis-store.js';
import { deleteKeysWithPrefix } from './redis-test-keys.js';
import { admitRequest } from './admit-request.js';

interface Backend {
  name: string;
  create(): LimitStore;
  /**
   * Another view of the same shared state, as a second gateway instance would have. The in-process
   * store is shared only within its process, so its peer is itself.
   */
  peer(store: LimitStore): LimitStore;
}

const REDIS_URL = process.env.REDIS_URL;
const REQUIRE_SERVICES = process.env.LYSS_REQUIRE_SERVICES === '1';
/** Unique per run so parallel or repeated runs against one Redis never see each other's keys. */
const RUN_PREFIX = `lyss-test-${randomUUID().slice(0, 8)}:`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh hash tag per test: every key of one call shares it, as one tenant's keys do. */
const tenant = (): string => `{t-${randomUUID().slice(0, 8)}}`;

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const request = admitRequest;

const admitted = (results: AdmitResult[]): number => results.filter((r) => r.ok).length;

function contract(backend: Backend): void {
  let opened: LimitStore[] = [];
  let store: LimitStore;
  let t: string;

  const open = (make: () => LimitStore): LimitStore => {
    const s = make();
    opened.push(s);
    return s;
  };

  beforeEach(() => {
    opened = [];
    store = open(() => backend.create());
    t = tenant();
  });

  afterEach(async () => {
    await Promise.all([...new Set(opened)].map((s) => s.close()));
  });

  it('never reserves more than a quota under 500 concurrent admits', async () => {
    const n = 137;
    const quota = { key: `${t}:q:token`, limit: 10 * n, baseline: 0 };
    const results = await Promise.all(
      Array.from({ length: 500 }, () => store.admit(request({ quotas: [quota], desired: 10, minimum: 10 }))),
    );
    expect(admitted(results)).toBe(n);
    expect(results.filter((r) => r.ok).every((r) => r.ok && r.reserved === 10)).toBe(true);
    for (const r of results) {
      if (!r.ok) expect(r).toEqual({ ok: false, reason: 'insufficient_quota', key: quota.key, remaining: 0 });
    }
    expect(await store.quotaUsed(quota.key)).toBe(10 * n);
  });

  it('admits exactly a per-minute limit from cold, with a positive retry-after on refusals', async () => {
    const rate = { key: `${t}:rl:token`, limit: 50 };
    const results = await Promise.all(
      Array.from({ length: 150 }, () => store.admit(request({ rateLimits: [rate] }))),
    );
    expect(admitted(results)).toBe(50);
    const refusals = results.filter((r) => !r.ok);
    expect(refusals).toHaveLength(100);
    for (const r of refusals) {
      if (r.ok || r.reason !== 'rate_limited') throw new Error(`expected rate_limited, got ${JSON.stringify(r)}`);
      expect(r.key).toBe(rate.key);
      expect(r.retryAfterMs).toBeGreaterThan(0);
      // One more is admitted one emission interval (60 s / 50) after the burst.
      expect(r.retryAfterMs).toBeLessThanOrEqual(1_200);
    }
  });

  it('admits one more per emission interval after a burst', async () => {
    const rate = { key: `${t}:rl:token`, limit: 60 };
    const burst = await Promise.all(Array.from({ length: 61 }, () => store.admit(request({ rateLimits: [rate] }))));
    expect(admitted(burst)).toBe(60);
    const refused = await store.admit(request({ rateLimits: [rate] }));
    if (refused.ok || refused.reason !== 'rate_limited') throw new Error('expected a rate limit');
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(1_000);
    await sleep(refused.retryAfterMs + 30);
    expect((await store.admit(request({ rateLimits: [rate] }))).ok).toBe(true);
    expect((await store.admit(request({ rateLimits: [rate] }))).ok).toBe(false);
  });

  it('books a run of arrivals at once when the last of them fits, and none of them otherwise', async () => {
    const rate = { key: `${t}:rl:token`, limit: 10 };
    expect((await store.admit(request({ rateLimits: [{ ...rate, count: 8 }] }))).ok).toBe(true);
    const refused = await store.admit(request({ rateLimits: [{ ...rate, count: 3 }] }));
    expect(refused.ok).toBe(false);
    const singles = await Promise.all(Array.from({ length: 5 }, () => store.admit(request({ rateLimits: [rate] }))));
    expect(admitted(singles)).toBe(2);
  });

  it('reports the wait of a slow limit as about its emission interval', async () => {
    const rate = { key: `${t}:rl:slow`, limit: 2 };
    expect(admitted(await Promise.all([1, 2, 3].map(() => store.admit(request({ rateLimits: [rate] })))))).toBe(2);
    const refused = await store.admit(request({ rateLimits: [rate] }));
    if (refused.ok || refused.reason !== 'rate_limited') throw new Error('expected a rate limit');
    expect(refused.retryAfterMs).toBeGreaterThan(29_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('neither checks nor books a limit of 0 or -1', async () => {
    const rateLimits = [
      { key: `${t}:rl:a`, limit: 0 },
      { key: `${t}:rl:b`, limit: -1 },
    ];
    const results = await Promise.all(Array.from({ length: 200 }, () => store.admit(request({ rateLimits }))));
    expect(admitted(results)).toBe(200);
  });

  it('reserves a partial fit down to the minimum, and names the tightest quota when it cannot', async () => {
    const roomy = { key: `${t}:q:channel`, limit: 1_000, baseline: 930 };
    const forty = { key: `${t}:q:token`, limit: 40, baseline: 0 };
    const fit = await store.admit(request({ quotas: [roomy, forty], desired: 100, minimum: 10 }));
    expect(fit).toEqual({ ok: true, reserved: 40 });
    expect(await store.quotaUsed(forty.key)).toBe(40);
    expect(await store.quotaUsed(roomy.key)).toBe(970);

    const five = { key: `${t}:q:other`, limit: 45, baseline: 40 };
    const refused = await store.admit(request({ quotas: [roomy, five], desired: 100, minimum: 10 }));
    expect(refused).toEqual({ ok: false, reason: 'insufficient_quota', key: five.key, remaining: 5 });
    expect(await store.quotaUsed(roomy.key)).toBe(970);
  });

  it('knows which counters it holds: none before an admit or setQuotaUsed seeds them', async () => {
    const a = { key: `${t}:q:a`, limit: -1, baseline: 0 };
    const b = { key: `${t}:q:b`, limit: -1, baseline: 0 };
    expect(store.holdsCounter(a.key)).toBe(false);
    expect((await store.admit(request({ quotas: [a], desired: 0, minimum: 0 }))).ok).toBe(true);
    expect(store.holdsCounter(a.key)).toBe(true);
    expect(store.holdsCounter(b.key)).toBe(false);
    await store.setQuotaUsed(b.key, 7);
    expect(store.holdsCounter(b.key)).toBe(true);
  });

  it('grants the desired amount when every quota is unlimited, holding no reservation but counting the spend', async () => {
    const unlimited = { key: `${t}:q:token`, limit: -1, baseline: 5 };
    const req = request({ quotas: [unlimited], desired: 1_000_000, minimum: 1 });
    expect(await store.admit(req)).toEqual({ ok: true, reserved: 1_000_000 });
    expect(await store.quotaUsed(unlimited.key)).toBe(5);
    await store.settle([unlimited.key], req.reservationId, 70);
    await store.settle([unlimited.key], req.reservationId, 70);
    expect(await store.quotaUsed(unlimited.key)).toBe(75);
    // A limit set later starts from the spend counted meanwhile.
    const limited = { ...unlimited, limit: 100 };
    expect(await store.admit(request({ quotas: [limited], desired: 50, minimum: 1 }))).toEqual({ ok: true, reserved: 25 });
  });

  it('returns an unsettled reservation once its ttl expires', async () => {
    const quota = { key: `${t}:q:token`, limit: 20, baseline: 0 };
    expect((await store.admit(request({ quotas: [quota], ttlMs: 200 }))).ok).toBe(true);
    expect((await store.admit(request({ quotas: [quota], ttlMs: 200 }))).ok).toBe(true);
    expect((await store.admit(request({ quotas: [quota], ttlMs: 200 }))).ok).toBe(false);
    expect(await store.quotaUsed(quota.key)).toBe(20);
    await sleep(300);
    // The admit sees the expiry by itself (no quotaUsed call sweeps first).
    expect(await store.admit(request({ quotas: [quota] }))).toEqual({ ok: true, reserved: 10 });
    expect(await store.quotaUsed(quota.key)).toBe(10);
    expect((await store.admit(request({ quotas: [quota], ttlMs: 200 }))).ok).toBe(true);
    expect(await store.quotaUsed(quota.key)).toBe(20);
    await sleep(300);
    expect(await store.quotaUsed(quota.key)).toBe(10);
  });

  it("counts a lease's reservation as spent if it expires unsettled, unless the counter was set since it was booked", async () => {
    // A dead instance's lease: its requests were served, so its units count as spent once it expires.
    const orphan = { key: `${t}:q:orphan`, limit: 100, baseline: 5 };
    expect((await store.admit(request({ quotas: [orphan], desired: 30, minimum: 30, ttlMs: 150, expiresAsSpent: true }))).ok).toBe(true);
    await sleep(250);
    expect(await store.quotaUsed(orphan.key)).toBe(35);
    // Reconciled from PostgreSQL after it was booked (which has that spend): it expires as nothing.
    const reconciled = { key: `${t}:q:reconciled`, limit: 100, baseline: 5 };
    expect((await store.admit(request({ quotas: [reconciled], desired: 30, minimum: 30, ttlMs: 150, expiresAsSpent: true }))).ok).toBe(true);
    await store.setQuotaUsed(reconciled.key, 12);
    expect(await store.quotaUsed(reconciled.key)).toBe(42);
    await sleep(250);
    expect(await store.quotaUsed(reconciled.key)).toBe(12);
    // Settled before it expires: only its settle counts. An admit sweeps it (not only quotaUsed).
    const ended = { key: `${t}:q:ended`, limit: 100, baseline: 0 };
    const lease = request({ quotas: [ended], desired: 30, minimum: 30, ttlMs: 150, expiresAsSpent: true });
    expect((await store.admit(lease)).ok).toBe(true);
    await store.settle([ended.key], lease.reservationId, 4);
    await sleep(250);
    expect(await store.admit(request({ quotas: [ended], desired: 100, minimum: 1 }))).toEqual({ ok: true, reserved: 96 });
    // Settled late, after it expired but before anything swept it: still only its settle counts.
    const late = { key: `${t}:q:late`, limit: 100, baseline: 0 };
    const slow = request({ quotas: [late], desired: 30, minimum: 30, ttlMs: 150, expiresAsSpent: true });
    expect((await store.admit(slow)).ok).toBe(true);
    await sleep(250);
    await store.settle([late.key], slow.reservationId, 4);
    expect(await store.quotaUsed(late.key)).toBe(4);
  });

  it('settles once, releases once, and ignores a release after a settle', async () => {
    const token = { key: `${t}:q:token`, limit: 100, baseline: 0 };
    const channel = { key: `${t}:q:channel`, limit: -1, baseline: 1_000 };
    const keys = [token.key, channel.key];
    const first = request({ quotas: [token, channel], desired: 50, minimum: 1 });
    expect(await store.admit(first)).toEqual({ ok: true, reserved: 50 });

    await store.settle(keys, first.reservationId, 30);
    expect(await store.quotaUsed(token.key)).toBe(30);
    expect(await store.quotaUsed(channel.key)).toBe(1_030);
    await store.settle(keys, first.reservationId, 30);
    expect(await store.quotaUsed(token.key)).toBe(30);
    expect(await store.quotaUsed(channel.key)).toBe(1_030);
    await store.release(keys, first.reservationId);
    expect(await store.quotaUsed(token.key)).toBe(30);

    const second = request({ quotas: [token, channel], desired: 20, minimum: 1 });
    expect(await store.admit(second)).toEqual({ ok: true, reserved: 20 });
    expect(await store.quotaUsed(token.key)).toBe(50);
    await store.release(keys, second.reservationId);
    expect(await store.quotaUsed(token.key)).toBe(30);
    await store.release(keys, second.reservationId);
    expect(await store.quotaUsed(token.key)).toBe(30);
    expect(await store.quotaUsed(channel.key)).toBe(1_030);
  });

  it('still adds the actual cost, once, when the reservation has expired', async () => {
    const quota = { key: `${t}:q:token`, limit: 100, baseline: 0 };
    const req = request({ quotas: [quota], desired: 40, minimum: 1, ttlMs: 100 });
    expect((await store.admit(req)).ok).toBe(true);
    await sleep(200);
    expect(await store.quotaUsed(quota.key)).toBe(0);
    await store.settle([quota.key], req.reservationId, 7);
    await store.settle([quota.key], req.reservationId, 7);
    expect(await store.quotaUsed(quota.key)).toBe(7);
  });

  it('books nothing when one quota is full', async () => {
    const rate = { key: `${t}:rl:token`, limit: 1 };
    const first = { key: `${t}:q:token`, limit: 100, baseline: 0 };
    const full = { key: `${t}:q:channel`, limit: 10, baseline: 10 };
    await store.setQuotaUsed(first.key, 5);
    const refused = await store.admit(request({ rateLimits: [rate], quotas: [first, full], desired: 5, minimum: 1 }));
    expect(refused).toEqual({ ok: false, reason: 'insufficient_quota', key: full.key, remaining: 0 });
    expect(await store.quotaUsed(first.key)).toBe(5);
    // A limit of 1 admits one request from cold: still possible only if the refusal booked nothing.
    expect((await store.admit(request({ rateLimits: [rate] }))).ok).toBe(true);
  });

  it('books no quota and no other limit when one rate limit refuses', async () => {
    const other = { key: `${t}:rl:channel`, limit: 1 };
    const spent = { key: `${t}:rl:token`, limit: 1 };
    const quota = { key: `${t}:q:token`, limit: 100, baseline: 0 };
    expect((await store.admit(request({ rateLimits: [spent] }))).ok).toBe(true);
    const refused = await store.admit(request({ rateLimits: [other, spent], quotas: [quota] }));
    expect(refused).toMatchObject({ ok: false, reason: 'rate_limited', key: spent.key });
    expect(await store.quotaUsed(quota.key)).toBeNull();
    expect((await store.admit(request({ rateLimits: [other] }))).ok).toBe(true);
  });

  it('seeds a missing counter from its baseline and ignores the baseline once it exists', async () => {
    const quota = { key: `${t}:q:token`, limit: 100, baseline: 90 };
    expect(await store.quotaUsed(quota.key)).toBeNull();
    expect(await store.admit(request({ quotas: [quota], desired: 20, minimum: 1 }))).toEqual({ ok: true, reserved: 10 });
    expect(await store.quotaUsed(quota.key)).toBe(100);
    const stale = { ...quota, baseline: 0 };
    expect(await store.admit(request({ quotas: [stale], desired: 20, minimum: 1 }))).toEqual({
      ok: false,
      reason: 'insufficient_quota',
      key: quota.key,
      remaining: 0,
    });
  });

  it('overwrites settled spend with setQuotaUsed and keeps live reservations', async () => {
    const quota = { key: `${t}:q:token`, limit: 100, baseline: 0 };
    const req = request({ quotas: [quota], desired: 10, minimum: 10 });
    expect((await store.admit(req)).ok).toBe(true);
    await store.setQuotaUsed(quota.key, 50);
    expect(await store.quotaUsed(quota.key)).toBe(60);
    expect(await store.admit(request({ quotas: [quota], desired: 100, minimum: 1 }))).toEqual({ ok: true, reserved: 40 });
    await store.release([quota.key], req.reservationId);
    expect(await store.quotaUsed(quota.key)).toBe(90);
  });

  it('counts hits in a window that resets after windowMs', async () => {
    const key = `${t}:fail:channel`;
    expect(await store.hit(key, 200)).toBe(1);
    expect(await store.hit(key, 200)).toBe(2);
    expect(await store.hit(key, 200, 3)).toBe(5);
    await sleep(300);
    expect(await store.hit(key, 200)).toBe(1);
  });

  it('keeps a value for its time to live, seen by every instance', async () => {
    const peer = open(() => backend.peer(store));
    const key = `${t}:response:resp_1`;
    expect(await store.getValue(key)).toBeNull();
    await store.putValue(key, 'first', 60_000);
    await store.putValue(key, 'second', 200);
    expect(await peer.getValue(key)).toBe('second');
    await sleep(300);
    expect(await store.getValue(key)).toBeNull();
  });

  it('delivers a publication to every subscriber until it unsubscribes', async () => {
    const peer = open(() => backend.peer(store));
    const channel = `${t}:invalidate`;
    const here: string[] = [];
    const there: string[] = [];
    const stopHere = await store.subscribe(channel, (m) => here.push(m));
    const stopThere = await peer.subscribe(channel, (m) => there.push(m));
    await store.publish(channel, 'token:1');
    await waitFor(() => here.length === 1 && there.length === 1);
    expect(here).toEqual(['token:1']);
    expect(there).toEqual(['token:1']);

    await stopThere();
    await peer.publish(channel, 'token:2');
    await waitFor(() => here.length === 2);
    await sleep(50);
    expect(here).toEqual(['token:1', 'token:2']);
    expect(there).toEqual(['token:1']);
    await stopHere();
  });

  it('answers ping while open and rejects after close', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    const closed = backend.create();
    await closed.close();
    await expect(closed.ping()).rejects.toThrow();
  });
}

describe('memory store', () => {
  contract({ name: 'memory', create: createMemoryStore, peer: (store) => store });
});

describe.skipIf(!REDIS_URL && !REQUIRE_SERVICES)('redis store', () => {
  if (!REDIS_URL) {
    it('runs because LYSS_REQUIRE_SERVICES=1 demands it', () => {
      expect.fail('LYSS_REQUIRE_SERVICES=1 but REDIS_URL is not set: the Redis contract suite cannot run');
    });
    return;
  }
  const url = REDIS_URL;
  const create = (): LimitStore => createRedisStore({ url, keyPrefix: RUN_PREFIX });

  afterAll(async () => {
    await deleteKeysWithPrefix(url, RUN_PREFIX);
  });

  contract({ name: 'redis', create, peer: create });

  describe('two instances on one Redis', () => {
    let a: LimitStore;
    let b: LimitStore;
    beforeEach(() => {
      a = create();
      b = create();
    });
    afterEach(async () => {
      await Promise.all([a.close(), b.close()]);
    });

    it('share a rate limit exactly', async () => {
      const rate = { key: `${tenant()}:rl:token`, limit: 20 };
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).admit(request({ rateLimits: [rate] }))),
      );
      expect(admitted(results)).toBe(20);
    });

    it('share a quota exactly', async () => {
      const quota = { key: `${tenant()}:q:token`, limit: 10 * 37, baseline: 0 };
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).admit(request({ quotas: [quota] }))),
      );
      expect(admitted(results)).toBe(37);
      expect(await a.quotaUsed(quota.key)).toBe(370);
      expect(await b.quotaUsed(quota.key)).toBe(370);
    });
  });

  it('answers an admit with nothing to check on counters it holds without a round trip, and still counts the spend', async () => {
    const quotas = [
      { key: `${tenant()}:q:token`, limit: -1, baseline: 0 },
      { key: `${tenant()}:q:channel`, limit: -1, baseline: 0 },
    ];
    const rateLimits = [{ key: `${tenant()}:rl:token`, limit: 0 }];
    const store = create();
    try {
      expect((await store.admit(request({ quotas, rateLimits }))).ok).toBe(true);
      const evalsha = vi.spyOn(Redis.prototype, 'evalsha');
      const later = request({ quotas, rateLimits, desired: 40 });
      const released = request({ quotas, rateLimits });
      try {
        expect(await store.admit(later)).toEqual({ ok: true, reserved: 40 });
        expect(await store.admit(released)).toEqual({ ok: true, reserved: 10 });
        expect(evalsha).not.toHaveBeenCalled();
        // Something to check, or a counter not seeded yet: the script runs.
        expect((await store.admit(request({ quotas, rateLimits: [{ ...rateLimits[0]!, limit: 100 }] }))).ok).toBe(true);
        expect(evalsha).toHaveBeenCalledTimes(1);
        expect((await store.admit(request({ quotas: [...quotas, { key: `${tenant()}:q:new`, limit: -1, baseline: 0 }] }))).ok).toBe(true);
        expect(evalsha).toHaveBeenCalledTimes(2);
      } finally {
        evalsha.mockRestore();
      }
      await store.release(quotas.map((q) => q.key), released.reservationId);
      await store.settle(quotas.map((q) => q.key), later.reservationId, 25);
      for (const q of quotas) expect(await store.quotaUsed(q.key)).toBe(25);
    } finally {
      await store.close();
    }
  });

  it('rejects ping when Redis is unreachable', async () => {
    const unreachable = createRedisStore({ url: 'redis://127.0.0.1:1' });
    try {
      await expect(unreachable.ping()).rejects.toThrow();
    } finally {
      await unreachable.close();
    }
  });
});
