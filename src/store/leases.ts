/**
 * Leases in front of the shared limit store: for a key busy enough, one admit books a run of rate-limit slots
 * or a block of quota units, which this instance then hands to its requests without a round trip. The round
 * trip to Redis before upstream was the largest cost the gateway added to a request (bench/README.md).
 *
 * What stays exact, and what a lease relaxes (README, "Quota and limits"):
 * - a quota is never exceeded: every request served from a lease draws on units booked in the shared store.
 *   A lease holds at most a hundredth of the quota; what its requests did not use goes back when it is
 *   settled, once its window is over and its last request has settled or been released;
 * - a rate limit's slots are booked when the lease is taken and used within its window, so within a minute
 *   the limit can be passed by the slots of one lease per instance: at most a tenth of what the limit admits
 *   in one window (with the default 10 s window, a sixtieth of the per-minute limit). Unused slots are lost;
 * - a key seen fewer than twice a window, with a limit too small for a lease of two, or near its limit (the
 *   store refuses the lease) is checked request by request, exactly, as before.
 * An unlimited quota needs no booking, only its counter held in the store; its "tally" lease adds up the
 * spend and settles it once its window is over.
 */
import { randomUUID } from 'node:crypto';
import type { AdmitResult, LimitStore, QuotaSpec, RateLimitSpec } from './limit-store.js';
import { normalizeAdmit, RATE_WINDOW_MS } from './limit-rules.js';

export interface LeaseOptions {
  /** How long a lease serves requests, and the window demand is measured over (ms). */
  windowMs: number;
}

/** The largest lease, as a share of what a rate limit admits in one window, and of a quota's limit. */
const RATE_SHARE = 0.1;
const QUOTA_SHARE = 0.01;
/** A key seen fewer times in a window is not worth a lease. */
const MIN_DEMAND = 2;
/** A lease covers this many windows' worth of the key's recent demand. */
const HEADROOM = 2;

interface Lease {
  id: string;
  key: string;
  /** rate: slots; quota: units booked in the store; tally: an unlimited quota's spend, nothing booked. */
  kind: 'rate' | 'quota' | 'tally';
  /** The limit it was booked under: a request under a changed limit is not served from it. */
  limit: number;
  /** Slots or units still free (Infinity for a tally). */
  free: number;
  /** The spend of the requests served (quota, tally), and how many of them have not settled yet. */
  spent: number;
  inflight: number;
  /** Serves requests until then (Date.now() ms). */
  until: number;
  /** No longer serves; settled once nothing is in flight. */
  retired: boolean;
  settled: boolean;
}

interface KeyState {
  lease: Lease | null;
  /** Taken before `lease` ran out, to serve once it does. */
  next: Lease | null;
  acquiring: boolean;
  windowStart: number;
  /** Requests seen in this window and the one before, and the most quota units one of them asked for. */
  seen: number;
  previous: number;
  largest: number;
  previousLargest: number;
}

/** A request served from leases: the quota and tally leases it draws on, and the units it took. */
interface Served {
  quotaLeases: Lease[];
  amount: number;
  expiresAt: number;
}

export interface LeasedStore {
  /**
   * Spend of this key's leases that the store has not been told yet. It is already in PostgreSQL (each request's
   * usage record is written as it ends), so a counter seeded from the durable spend must leave it out, or the
   * lease's settle would count it twice.
   */
  unsettledSpend(key: string): number;
}

export function withLeases<S extends LimitStore>(inner: S, opts: LeaseOptions): S & LeasedStore {
  const windowMs = opts.windowMs;
  const keys = new Map<string, KeyState>();
  const served = new Map<string, Served>();
  /** Lease settles on their way, which close() waits for. */
  const settling = new Set<Promise<void>>();
  /** Quota and tally leases whose spend the store has not confirmed yet. */
  const unsettled = new Set<Lease>();
  let closed = false;
  const storeDown = (): boolean => (inner as { down?: boolean }).down === true;

  function observe(key: string, now: number, units: number): KeyState {
    let st = keys.get(key);
    if (!st) {
      st = { lease: null, next: null, acquiring: false, windowStart: now, seen: 0, previous: 0, largest: 0, previousLargest: 0 };
      keys.set(key, st);
    } else if (now - st.windowStart >= windowMs) {
      const adjacent = now - st.windowStart < 2 * windowMs;
      st.previous = adjacent ? st.seen : 0;
      st.previousLargest = adjacent ? st.largest : 0;
      st.seen = 0;
      st.largest = 0;
      st.windowStart = now;
    }
    st.seen++;
    if (units > st.largest) st.largest = units;
    return st;
  }

  const demand = (st: KeyState): number => Math.max(st.seen, st.previous);
  const largest = (st: KeyState): number => Math.max(1, st.largest, st.previousLargest);
  const serves = (lease: Lease | null, limit: number, need: number, now: number): lease is Lease =>
    lease !== null && !lease.retired && lease.limit === limit && now < lease.until && lease.free >= need;

  /** The lease that can serve `need` now, moving on to the next one when the current one cannot. */
  function leaseFor(st: KeyState, limit: number, need: number, now: number): Lease | null {
    if (serves(st.lease, limit, need, now)) return st.lease;
    if (!serves(st.next, limit, need, now)) return null;
    if (st.lease) retire(st.lease);
    st.lease = st.next;
    st.next = null;
    return st.lease;
  }

  /** Past three quarters of its window, or unable to serve two more: time to take the next lease. */
  const ageing = (lease: Lease | null, need: number, now: number): boolean =>
    lease === null || lease.until - now < windowMs / 4 || lease.free < 2 * need;

  function retire(lease: Lease): void {
    lease.retired = true;
    settleIfDone(lease);
  }

  /** A retired quota or tally lease with nothing in flight: its spend replaces its units in the store. */
  function settleIfDone(lease: Lease): void {
    if (!lease.retired || lease.inflight > 0 || lease.settled) return;
    lease.settled = true;
    if (lease.kind === 'tally' && lease.spent === 0) return void unsettled.delete(lease);
    const done = (lease.spent > 0 ? inner.settle([lease.key], lease.id, lease.spent) : inner.release([lease.key], lease.id))
      // The failure policy below keeps what it could not tell Redis and replays it.
      .catch(() => {})
      .finally(() => {
        settling.delete(done);
        unsettled.delete(lease);
      });
    settling.add(done);
  }

  function newLease(id: string, key: string, kind: Lease['kind'], limit: number, free: number, now: number): Lease {
    return { id, key, kind, limit, free, spent: 0, inflight: 0, until: now + windowMs, retired: false, settled: kind === 'rate' };
  }

  function install(st: KeyState, lease: Lease, now: number): void {
    if (lease.kind !== 'rate') unsettled.add(lease);
    if (closed) return retire(lease);
    if (st.lease && serves(st.lease, lease.limit, 0, now)) {
      if (st.next) retire(st.next);
      st.next = lease;
    } else {
      if (st.lease) retire(st.lease);
      st.lease = lease;
    }
  }

  function acquireRate(spec: RateLimitSpec, st: KeyState): void {
    if (demand(st) < MIN_DEMAND) return;
    const perWindow = (spec.limit * windowMs) / RATE_WINDOW_MS;
    const count = Math.min(HEADROOM * demand(st), Math.floor(perWindow * RATE_SHARE));
    if (count < MIN_DEMAND) return;
    const id = randomUUID();
    const admit = inner.admit({ rateLimits: [{ key: spec.key, limit: spec.limit, count }], quotas: [], reservationId: id, desired: 0, minimum: 0, ttlMs: windowMs });
    acquire(st, admit, () => {
      // A rate lease holds no reservation; this only lets the failure policy forget it.
      inner.release([], id).catch(() => {});
      return newLease(id, spec.key, 'rate', spec.limit, count, Date.now());
    });
  }

  function acquireQuota(spec: QuotaSpec, st: KeyState, ttlMs: number): void {
    if (demand(st) < MIN_DEMAND) return;
    const each = largest(st);
    const count = Math.min(HEADROOM * demand(st), Math.floor((spec.limit * QUOTA_SHARE) / each));
    if (count < MIN_DEMAND) return;
    const units = count * each;
    const id = randomUUID();
    // Booked for as long as the last request it may serve can run.
    const admit = inner.admit({ rateLimits: [], quotas: [spec], reservationId: id, desired: units, minimum: units, ttlMs: ttlMs + windowMs });
    acquire(st, admit, () => newLease(id, spec.key, 'quota', spec.limit, units, Date.now()));
  }

  function acquire(st: KeyState, admit: Promise<AdmitResult>, lease: () => Lease): void {
    st.acquiring = true;
    admit
      .then((result) => {
        if (result.ok) install(st, lease(), Date.now());
      })
      // The request that asked went the exact way; a later one asks again.
      .catch(() => {})
      .finally(() => {
        st.acquiring = false;
      });
  }

  function renew(st: KeyState, spec: RateLimitSpec | QuotaSpec, kind: 'rate' | 'quota', need: number, ttlMs: number, now: number): void {
    if (st.acquiring || (st.next && serves(st.next, spec.limit, need, now)) || !ageing(st.lease, need, now)) return;
    if (kind === 'rate') acquireRate(spec as RateLimitSpec, st);
    else acquireQuota(spec as QuotaSpec, st, ttlMs);
  }

  function tally(spec: QuotaSpec, st: KeyState, now: number): Lease | null {
    const lease = leaseFor(st, spec.limit, 0, now);
    if (lease || !inner.holdsCounter(spec.key)) return lease;
    install(st, newLease(randomUUID(), spec.key, 'tally', spec.limit, Number.POSITIVE_INFINITY, now), now);
    return st.lease;
  }

  function finish(id: string, actual: number | null): boolean {
    const s = served.get(id);
    if (!s) return false;
    served.delete(id);
    for (const lease of s.quotaLeases) {
      lease.inflight--;
      if (actual === null) lease.free += s.amount;
      else {
        lease.spent += actual;
        lease.free += s.amount - actual;
      }
      settleIfDone(lease);
    }
    return true;
  }

  // Retires leases whose window is over, forgets idle keys, and lets go of requests that never settled.
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [key, st] of keys) {
      for (const lease of [st.lease, st.next]) if (lease && now >= lease.until) retire(lease);
      if (st.lease?.retired) st.lease = null;
      if (st.next?.retired) st.next = null;
      if (!st.lease && !st.next && !st.acquiring && now - st.windowStart >= 2 * windowMs) keys.delete(key);
    }
    for (const [id, s] of served) if (s.expiresAt <= now) finish(id, null);
  }, Math.max(100, windowMs / 4));
  timer.unref();

  return {
    ...inner,
    unsettledSpend(key) {
      let spent = 0;
      for (const lease of unsettled) if (lease.key === key) spent += lease.spent;
      return spent;
    },
    async admit(raw) {
      const req = normalizeAdmit(raw);
      const rates = req.rateLimits.filter((r) => r.limit > 0);
      // While the store is down, its failure policy decides request by request, as without leases.
      if (closed || storeDown() || rates.length + req.quotas.length === 0) return inner.admit(raw);
      const now = Date.now();
      const rateStates = rates.map((r) => observe(r.key, now, 0));
      const quotaStates = req.quotas.map((q) => observe(q.key, now, q.limit < 0 ? 0 : req.desired));
      const rateLeases = rates.map((r, i) => leaseFor(rateStates[i]!, r.limit, 1, now));
      const quotaLeases = req.quotas.map((q, i) => (q.limit < 0 ? tally(q, quotaStates[i]!, now) : leaseFor(quotaStates[i]!, q.limit, req.desired, now)));
      rates.forEach((r, i) => renew(rateStates[i]!, r, 'rate', 1, req.ttlMs, now));
      req.quotas.forEach((q, i) => q.limit >= 0 && renew(quotaStates[i]!, q, 'quota', req.desired, req.ttlMs, now));
      if (!rateLeases.every(Boolean) || !quotaLeases.every(Boolean)) return inner.admit(raw);
      for (const lease of rateLeases) lease!.free--;
      for (const lease of quotaLeases) {
        lease!.free -= req.desired;
        lease!.inflight++;
      }
      served.set(req.reservationId, { quotaLeases: quotaLeases as Lease[], amount: req.desired, expiresAt: now + req.ttlMs });
      return { ok: true, reserved: req.desired };
    },
    async settle(keyList, id, actual) {
      if (!finish(id, actual)) await inner.settle(keyList, id, actual);
    },
    async release(keyList, id) {
      if (!finish(id, null)) await inner.release(keyList, id);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      // Requests still in flight count as spending what they took: their settle would come too late.
      const leases = new Set<Lease>();
      for (const s of served.values()) {
        for (const lease of s.quotaLeases) {
          lease.spent += s.amount;
          lease.inflight--;
          leases.add(lease);
        }
      }
      served.clear();
      for (const st of keys.values()) for (const lease of [st.lease, st.next]) if (lease) leases.add(lease);
      keys.clear();
      for (const lease of leases) retire(lease);
      await Promise.all(settling);
      await inner.close();
    },
  };
}
