/**
 * The Redis failure policy (src/store/resilient-store.ts) over a store that can break, hang or lose its data:
 * fail-closed refuses, fail-open limits in-process from the durable spend, and after recovery the live
 * counters hold exactly what they would have without the outage. (tests/faults/redis-outage.test.ts runs the
 * same against real processes and a real Redis behind a cut TCP link.)
 */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import type { AdmitRequest, LimitStore } from '../../../src/store/limit-store.js';
import { createMemoryStore } from '../../../src/store/memory-store.js';
import { withFailurePolicy } from '../../../src/store/resilient-store.js';
import { withLeases, type LeasedStore } from '../../../src/store/leases.js';

const Q = '{t}:q:t:token';
const logger = createLogger('silent');

/** A store that fails (`broken`), never answers (`hang`) or forgets everything (`lose()`). */
function flakyStore() {
  let inner = createMemoryStore();
  const state = { broken: false, hang: false, calls: 0 };
  const guard = async <T>(call: () => Promise<T>): Promise<T> => {
    state.calls++;
    if (state.hang) return new Promise<T>(() => {});
    if (state.broken) throw new Error('ECONNREFUSED');
    return call();
  };
  const store: LimitStore = {
    admit: (req) => guard(() => inner.admit(req)),
    settle: (keys, id, actual) => guard(() => inner.settle(keys, id, actual)),
    release: (keys, id) => guard(() => inner.release(keys, id)),
    holdsCounter: (key) => inner.holdsCounter(key),
    quotaUsed: (key) => guard(() => inner.quotaUsed(key)),
    setQuotaUsed: (key, used) => guard(() => inner.setQuotaUsed(key, used)),
    hit: (key, windowMs, by) => guard(() => inner.hit(key, windowMs, by)),
    putValue: (key, value, ttlMs) => guard(() => inner.putValue(key, value, ttlMs)),
    getValue: (key) => guard(() => inner.getValue(key)),
    publish: (channel, message) => guard(() => inner.publish(channel, message)),
    subscribe: (channel, handler) => guard(() => inner.subscribe(channel, handler)),
    ping: () => guard(() => inner.ping()),
    close: () => inner.close(),
  };
  return { store, state, lose: () => (inner = createMemoryStore()), used: (key = Q) => inner.quotaUsed(key) };
}

let n = 0;
const admitReq = (desired: number, limit: number, baseline: number): AdmitRequest => ({
  rateLimits: [],
  quotas: [{ key: Q, limit, baseline }],
  reservationId: `r${++n}`,
  desired,
  minimum: desired,
  ttlMs: 60_000,
});

async function until(check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('kept values', () => {
  it('are bounded like every call, fail at once while the store is down, and work again after', async () => {
    const flaky = flakyStore();
    const store = withFailurePolicy(flaky.store, 'open', logger, { probeMs: 10, callTimeoutMs: 50 });
    await store.putValue('{t}:response:a', 'x', 60_000);
    flaky.state.hang = true;
    const started = Date.now();
    await expect(store.getValue('{t}:response:a')).rejects.toThrow(/timed out/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(store.down).toBe(true);
    const calls = flaky.state.calls;
    await expect(store.putValue('{t}:response:b', 'y', 60_000)).rejects.toThrow('limit store down');
    expect(flaky.state.calls - calls).toBeLessThanOrEqual(1); // a probe at most
    flaky.state.hang = false;
    await until(() => !store.down);
    expect(await store.getValue('{t}:response:a')).toBe('x');
    await store.close();
  });
});

describe('fail-closed', () => {
  it('refuses with a 503 while down without waiting on the store, then replays the settles it missed', async () => {
    const flaky = flakyStore();
    const store = withFailurePolicy(flaky.store, 'closed', logger, { probeMs: 10 });
    const a = admitReq(10, 100, 0);
    expect(await store.admit(a)).toEqual({ ok: true, reserved: 10 });
    flaky.state.broken = true;
    await store.settle([Q], a.reservationId, 7); // lost: queued
    const calls = flaky.state.calls;
    await expect(store.admit(admitReq(10, 100, 0))).rejects.toMatchObject({ code: 'service_unavailable', status: 503 });
    await expect(store.admit(admitReq(10, 100, 0))).rejects.toBeInstanceOf(GatewayError);
    expect(flaky.state.calls - calls).toBeLessThanOrEqual(2); // probes only, no admit reached the store
    expect(store.failureStats).toMatchObject({ failClosedRefusals: 2, replayPending: 1 });
    // While down no request may skip its admit: every one goes through the failure policy.
    expect(store.holdsCounter(Q)).toBe(false);
    flaky.state.broken = false;
    await until(() => store.failureStats.recoveries === 1);
    expect(store.holdsCounter(Q)).toBe(true);
    expect(await flaky.used()).toBe(7);
    expect(store.failureStats.replayPending).toBe(0);
    await store.close();
  });

  it('bounds a call the store never answers, and releases what that admit may have booked', async () => {
    const flaky = flakyStore();
    const store = withFailurePolicy(flaky.store, 'closed', logger, { probeMs: 10, callTimeoutMs: 50 });
    flaky.state.hang = true;
    const started = Date.now();
    await expect(store.admit(admitReq(10, 100, 0))).rejects.toMatchObject({ code: 'service_unavailable' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(store.down).toBe(true);
    flaky.state.hang = false;
    await until(() => !store.down);
    expect(await flaky.used()).toBe(null); // the release replayed; nothing seeded
    await store.close();
  });
});

describe('fail-open', () => {
  it('limits in-process from the durable spend (reservations in flight included) and gives Redis the spend afterwards', async () => {
    const flaky = flakyStore();
    let durable = 0;
    const store = withFailurePolicy(flaky.store, 'open', logger, { probeMs: 10, durableUsed: async () => durable });
    const first = admitReq(10, 100, 0);
    const second = admitReq(10, 100, 0);
    const third = admitReq(10, 100, 0);
    for (const r of [first, second, third]) expect((await store.admit(r)).ok).toBe(true);
    await store.settle([Q], first.reservationId, 10);
    // PostgreSQL (plus the records not written yet) holds the first and third requests.
    durable = 20;
    flaky.state.broken = true;
    await store.settle([Q], third.reservationId, 10); // fails: the outage begins, the settle waits for replay
    // `second` is still in flight (10 held): 100 - 20 - 10 leaves room for exactly 7 more of 10.
    const local = [];
    for (let i = 0; i < 12; i++) {
      const req = admitReq(10, 100, 0);
      local.push({ req, result: await store.admit(req) });
    }
    expect(local.filter((l) => l.result.ok)).toHaveLength(7);
    expect(store.failureStats.failOpenAdmits).toBe(12);
    for (const l of local) if (l.result.ok) await store.settle([Q], l.req.reservationId, 10);
    await store.settle([Q], second.reservationId, 10);
    flaky.state.broken = false;
    await until(() => store.failureStats.recoveries === 1);
    // 10 + 10 (settle replayed) + 10 (in flight across the outage, replayed by id) + 7 x 10 (in-process): the quota.
    expect(await flaky.used()).toBe(100);
    expect((await store.admit(admitReq(1, 100, 0))).ok).toBe(false);
    await store.close();
  });
});

describe('unlimited requests across an outage', () => {
  it('are not booked again one by one when the store is back, and their spend still counts', async () => {
    const flaky = flakyStore();
    const store = withFailurePolicy(flaky.store, 'open', logger, { probeMs: 10, durableUsed: async () => 0 });
    const inFlight = Array.from({ length: 50 }, () => admitReq(10, -1, 0));
    for (const r of inFlight) expect((await store.admit(r)).ok).toBe(true);
    flaky.state.broken = true;
    await store.settle([Q], inFlight[0]!.reservationId, 10); // the outage begins; this settle waits for replay
    const calls = flaky.state.calls;
    flaky.state.broken = false;
    await until(() => store.failureStats.recoveries === 1);
    // Probes and the replayed settle, not 49 reservations (an unlimited quota holds none) booked again.
    expect(flaky.state.calls - calls).toBeLessThan(10);
    for (const r of inFlight.slice(1)) await store.settle([Q], r.reservationId, 10);
    expect(await flaky.used()).toBe(500);
    await store.close();
  });
});

describe('fail-open, a lease ending while the outage begins', () => {
  it("settles into the in-process counter once its reservation is there, which was seeded without the lease's spend", async () => {
    const flaky = flakyStore();
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    // PostgreSQL has 20 units, all spent through a lease whose settle is still to come: the seed leaves them out.
    const store = withFailurePolicy(flaky.store, 'open', logger, { probeMs: 60_000, durableUsed: async () => (await gate, 0) });
    const lease = { ...admitReq(30, 100, 0), expiresAsSpent: true };
    expect((await store.admit(lease)).ok).toBe(true);
    flaky.state.broken = true;
    const first = store.admit(admitReq(10, 100, 0));
    await until(() => store.down);
    // The lease ends while its reservation is being moved into the in-process store.
    const settled = store.settle([Q], lease.reservationId, 20);
    openGate();
    expect((await first).ok).toBe(true);
    await settled;
    // In process: 20 spent by the lease and 10 reserved: 70 left, not 90.
    expect(await store.admit(admitReq(71, 100, 0))).toMatchObject({ ok: false, reason: 'insufficient_quota', remaining: 70 });
    await store.close();
  });

  it('moves a reservation of the last outage into the next one\'s in-process store, so its settle lands there', async () => {
    const flaky = flakyStore();
    const store = withFailurePolicy(flaky.store, 'open', logger, { probeMs: 10, durableUsed: async () => 0 });
    const lease = { ...admitReq(30, 100, 0), expiresAsSpent: true };
    expect((await store.admit(lease)).ok).toBe(true);
    for (let outage = 1; outage <= 2; outage++) {
      flaky.state.broken = true;
      const trigger = admitReq(10, 100, 0);
      expect((await store.admit(trigger)).ok).toBe(true);
      await store.release([Q], trigger.reservationId);
      if (outage === 1) {
        flaky.state.broken = false;
        await until(() => store.failureStats.recoveries === 1);
      }
    }
    await store.settle([Q], lease.reservationId, 20);
    // In the second outage's store: the lease's 20, nothing else.
    expect(await store.admit(admitReq(81, 100, 0))).toMatchObject({ ok: false, reason: 'insufficient_quota', remaining: 80 });
    await store.close();
  });
});

describe('fail-open, spend the in-process store holds no reservation for', () => {
  it('counts an unlimited request admitted before the outage on the in-process counter seeded before it ended', async () => {
    const flaky = flakyStore();
    const store = withFailurePolicy(flaky.store, 'open', logger, { probeMs: 60_000, durableUsed: async () => 0 });
    const before = admitReq(10, -1, 0);
    expect((await store.admit(before)).ok).toBe(true);
    flaky.state.broken = true;
    // The outage begins with an admit of the same key: its in-process counter is seeded from PostgreSQL,
    // which does not have `before` yet.
    const trigger = admitReq(0, -1, 0);
    expect((await store.admit(trigger)).ok).toBe(true);
    await store.release([Q], trigger.reservationId);
    await store.settle([Q], before.reservationId, 30);
    // A quota of 100 set meanwhile: 30 spent, 70 left.
    expect(await store.admit(admitReq(71, 100, 0))).toMatchObject({ ok: false, reason: 'insufficient_quota', remaining: 70 });
    await store.close();
  });

  it("counts a tally's spend on the in-process counter seeded while the tally still owed it", async () => {
    const flaky = flakyStore();
    // PostgreSQL with the records not written yet; the seed leaves out what leases will still settle (as deps.ts).
    let durable = 0;
    let leased: LeasedStore | null = null;
    const resilient = withFailurePolicy(flaky.store, 'open', logger, { probeMs: 60_000, durableUsed: async (key) => durable - (leased?.pendingSettle(key) ?? 0) });
    const store = withLeases(resilient, { windowMs: 100 });
    leased = store;
    for (let i = 0; i < 4; i++) {
      const req = admitReq(10, -1, 0);
      expect((await store.admit(req)).ok).toBe(true);
      durable += 10; // recorded as it ends, before its settle
      await store.settle([Q], req.reservationId, 10);
    }
    // The first request seeded the counter; the tally holds the other three's spend.
    expect(store.pendingSettle(Q)).toBe(30);
    flaky.state.broken = true;
    await store.release([Q], 'some-other-request'); // fails: the outage begins
    const trigger = admitReq(0, -1, 0);
    expect((await store.admit(trigger)).ok).toBe(true); // seeds the in-process counter: 40 - 30
    await store.release([Q], trigger.reservationId);
    // The key goes quiet and the tally ends: its 30 wait for Redis, and reach the in-process counter too.
    await until(() => store.pendingSettle(Q) === 0 && resilient.failureStats.replayPending === 2);
    expect(await store.admit(admitReq(61, 100, 0))).toMatchObject({ ok: false, reason: 'insufficient_quota', remaining: 60 });
    await store.close();
  });

  it('does not count it again on a counter the move into the in-process store seeded with it', async () => {
    const flaky = flakyStore();
    let durable = 0;
    let gate: Promise<void> = Promise.resolve();
    const store = withFailurePolicy(flaky.store, 'open', logger, {
      probeMs: 60_000,
      durableUsed: async () => {
        await gate;
        return durable;
      },
    });
    // A reservation with a limited channel quota: the move books it again in-process, seeding the token's counter.
    const C = '{t}:q:c:channel';
    const held: AdmitRequest = { ...admitReq(10, -1, 0), quotas: [{ key: Q, limit: -1, baseline: 0 }, { key: C, limit: 1_000, baseline: 0 }] };
    expect((await store.admit(held)).ok).toBe(true);
    const unlimited = admitReq(10, -1, 0);
    expect((await store.admit(unlimited)).ok).toBe(true);
    let readsDone!: () => void;
    gate = new Promise((resolve) => (readsDone = resolve));
    flaky.state.broken = true;
    await store.release([Q], 'some-other-request'); // fails: the outage begins, the move waits for PostgreSQL
    durable = 30; // `unlimited` was answered: its record is queued, so the durable spend has it
    const settled = store.settle([Q], unlimited.reservationId, 30);
    readsDone();
    await settled;
    await store.release([Q, C], held.reservationId);
    expect(await store.admit(admitReq(71, 100, 0))).toMatchObject({ ok: false, reason: 'insufficient_quota', remaining: 70 });
    await store.close();
  });
});

describe('a store that lost its data', () => {
  it("books a lease's reservation again as one that expires as spent", async () => {
    const flaky = flakyStore();
    const store = withFailurePolicy(flaky.store, 'closed', logger, { probeMs: 10, durableUsed: async () => 0 });
    const lease = { ...admitReq(30, 100, 0), ttlMs: 300, expiresAsSpent: true };
    expect((await store.admit(lease)).ok).toBe(true);
    flaky.state.broken = true;
    await expect(store.admit(admitReq(10, 100, 0))).rejects.toBeInstanceOf(GatewayError);
    flaky.lose();
    flaky.state.broken = false;
    await until(() => store.failureStats.recoveries === 1);
    expect(await flaky.used()).toBe(30);
    // Its instance never settles it (it died): once expired, its units count as spent.
    await new Promise((r) => setTimeout(r, 400));
    expect(await flaky.used()).toBe(30);
    await store.close();
  });


  it('is seeded again from the durable spend, not from a baseline cached before the outage', async () => {
    const flaky = flakyStore();
    let durable = 0;
    const store = withFailurePolicy(flaky.store, 'closed', logger, { probeMs: 10, durableUsed: async () => durable });
    for (let i = 0; i < 5; i++) {
      const r = admitReq(10, 100, 0);
      await store.admit(r);
      await store.settle([Q], r.reservationId, 10);
    }
    durable = 50;
    flaky.state.broken = true;
    await expect(store.admit(admitReq(10, 100, 0))).rejects.toBeInstanceOf(GatewayError);
    flaky.lose();
    flaky.state.broken = false;
    await until(() => store.failureStats.recoveries === 1);
    // The caller still passes its stale baseline (0); only 5 more fit.
    const after = [];
    for (let i = 0; i < 8; i++) after.push(await store.admit(admitReq(10, 100, 0)));
    expect(after.filter((r) => r.ok)).toHaveLength(5);
    await store.close();
  });
});
