/**
 * Leases in front of the shared limit store: for a key busy enough, one admit books a run of rate-limit slots
 * or a block of quota units, which this instance then hands to its requests without a round trip. The round
 * trip to Redis before upstream was the largest cost the gateway added to a request (bench/README.md).
 *
 * What stays exact, and what a lease relaxes (README, "Quota and limits"):
 * - a quota is never exceeded: every request served from a lease draws on units reserved in the shared store.
 *   A quota lease's units are one reservation, which counts against the quota from the moment it is taken;
 *   when the lease ends (its time over, its key quiet for 1-1.5 windows, last request settled or released) it
 *   settles its requests' spend in its place, as a request does, and a request it cannot serve gets those units
 *   back before the store checks it. It holds at most a hundredth of the limit, and is only taken while as much
 *   again stays free. A process that dies with a lease leaves its units counted, and once the reservation
 *   expires counted as spent (its requests were served; refusing early, never overspending), until the counters
 *   are reconciled. A reconcile while the lease lives (another instance starting) keeps the reservation, so
 *   the lease's end counts its spend on the reconciled counter: too much by what PostgreSQL already had of it,
 *   not too little. One exception: should its instance then die before the lease ends, the reservation (booked
 *   before that reconcile) expires as nothing, and what the lease served after the reconcile is missing from the
 *   counter until the next one (at most the lease's units);
 * - a rate limit's slots are booked when a lease is taken and used over its life, so within a minute the limit
 *   can be passed by the slots of up to two leases per process (the current one and the next, each at most a
 *   tenth of what the limit admits in one window). Unused slots are lost;
 * - a key seen fewer than twice a window, whose limit is too small for a lease of two, or near its limit (the
 *   store refuses the lease) is checked request by request, exactly, as without leases; so is every request
 *   that needs any such key.
 * An unlimited quota whose counter the store holds gets a "tally" lease from its first request: nothing to book,
 * it adds the spend up and settles it when it ends, its time over or its key quiet for 1-1.5 windows (a request still
 * running then settles its own spend when it ends, so a quota set meanwhile counts everything finished). A
 * process that dies with a tally leaves its spend out of the counter, not out of PostgreSQL, until the counters
 * are reconciled.
 */
import { randomUUID } from 'node:crypto';
import type { AdmitResult, LimitStore, QuotaSpec, RateLimitSpec } from './limit-store.js';
import { normalizeAdmit, RATE_WINDOW_MS } from './limit-rules.js';

export interface LeaseOptions {
  /** The window demand is measured over, and a rate lease's size bounded by (ms); a lease lasts six. */
  windowMs: number;
}

export interface LeasedStore {
  /**
   * What this instance's leases will still add to a quota counter when they end: their requests' spend (a quota
   * lease's units are a reservation until then, not spend). PostgreSQL already has it (each request's usage
   * record is written as it ends), so a counter seeded from it must leave this out, or it would count twice.
   * Spend whose settle has been sent is no longer in it: a counter seeded after the send must count it. (During
   * a fail-open outage such a settle reaches the in-process counters seeded before it was sent, which lack it;
   * one sent before the outage, which Redis did not answer, reaches Redis only, on replay. A Redis counter
   * seeded while such a settle is on its way counts it twice: too much, never too little.)
   */
  pendingSettle(key: string): number;
}

/** The largest lease, as a share of what a rate limit admits in one window, and of a quota's limit. */
const RATE_SHARE = 0.1;
const QUOTA_SHARE = 0.01;
/** A key seen fewer times in a window is not worth a lease. */
const MIN_DEMAND = 2;
/** A lease covers twice the key's recent demand over its length. */
const HEADROOM = 2;
/**
 * A lease lasts this many windows. Nothing a lease relaxes grows with its length: a rate lease holds at most a
 * tenth of what its limit admits in one window (and a minute's requests pass the limit by at most the slots
 * of the leases alive when it began), a quota lease at most a hundredth of its limit, a tally books nothing.
 * What does grow with the number of leases is the store calls (two or three each, whatever it served), and a
 * gateway with many tokens sees most of them a few times a window: at 500 req/s over 1,000 tokens, leases of
 * one window made ~0.5 Redis calls per answer (bench/README.md, twelfth round).
 */
const LEASE_WINDOWS = 6;
/**
 * A lease serves between 3/4 of its length and all of it, at random. Keys first seen together (every token
 * at start) would otherwise keep taking and ending their leases together: a sweep that ended a thousand
 * leases at once sent their settles in one burst that held the event loop for milliseconds.
 */
const LENGTH_JITTER = 0.25;
/**
 * A key counts as quiet after one window and up to this much more, at random: keys that went quiet together
 * (traffic that stopped, a gateway between two bench scenarios) would otherwise end their quota leases and
 * tallies in one sweep, a burst of settles that held the event loop (a thousand of them, after a lull).
 */
const QUIET_JITTER = 0.5;
/** The sweep ends leases at most this late, each tick ending only those whose time came since the last. */
const SWEEP_MS = 250;

interface Lease {
  id: string;
  key: string;
  /** rate: slots; quota: units reserved under the lease's id; tally: an unlimited quota's spend, nothing booked. */
  kind: 'rate' | 'quota' | 'tally';
  /** The limit it was booked under: a request under a changed limit is not served from it. */
  limit: number;
  /** Slots or units still free (Infinity for a tally). */
  free: number;
  /** The spend of the requests served (quota, tally), and how many of them have not settled yet. */
  spent: number;
  inflight: number;
  /** A retired tally's spend sent to the store while its last requests ran. */
  sent: number;
  parts: number;
  /** Serves requests until then (Date.now() ms). */
  until: number;
  /** No longer serves; told to the store once nothing is in flight. */
  retired: boolean;
  /** Its end has been sent to the store (a rate lease has nothing to send). */
  ended: boolean;
}

interface KeyState {
  lease: Lease | null;
  /** Taken before `lease` ran out, to serve once it does. */
  next: Lease | null;
  acquiring: boolean;
  /** The store refused a lease: none is asked for until then. */
  refusedUntil: number;
  windowStart: number;
  /** When the key's last request came (Date.now() ms), and how long after it the key counts as quiet. */
  lastSeen: number;
  quietMs: number;
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

export function withLeases<S extends LimitStore>(inner: S, opts: LeaseOptions): S & LeasedStore {
  const windowMs = opts.windowMs;
  const leaseMs = windowMs * LEASE_WINDOWS;
  const keys = new Map<string, KeyState>();
  const served = new Map<string, Served>();
  /** Calls to the store on their way (lease admits, ends), which close() waits for. */
  const pending = new Set<Promise<unknown>>();
  /** Quota and tally leases whose end has not been sent yet (pendingSettle). */
  const open = new Set<Lease>();
  /** Requests in flight when close() ended their leases, counting what they took: their late settle adds nothing. */
  const takenOver = new Set<string>();
  let closed = false;
  const storeDown = (): boolean => (inner as { down?: boolean }).down === true;

  function track<T>(call: Promise<T>): Promise<T> {
    pending.add(call);
    void call.finally(() => pending.delete(call)).catch(() => {});
    return call;
  }

  function observe(key: string, now: number, units: number): KeyState {
    let st = keys.get(key);
    if (!st) {
      st = {
        lease: null,
        next: null,
        acquiring: false,
        refusedUntil: 0,
        windowStart: now,
        lastSeen: now,
        quietMs: windowMs * (1 + QUIET_JITTER * Math.random()),
        seen: 0,
        previous: 0,
        largest: 0,
        previousLargest: 0,
      };
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
    st.lastSeen = now;
    if (units > st.largest) st.largest = units;
    return st;
  }

  const demand = (st: KeyState): number => Math.max(st.seen, st.previous);
  /** Requests a lease is sized for: twice the key's recent demand over the lease's life. */
  const wanted = (st: KeyState): number => HEADROOM * LEASE_WINDOWS * demand(st);
  const unitsPerRequest = (st: KeyState): number => Math.max(1, st.largest, st.previousLargest);
  const isLive = (lease: Lease | null, limit: number, now: number): lease is Lease =>
    lease !== null && !lease.retired && lease.limit === limit && now < lease.until;
  const serves = (lease: Lease | null, limit: number, need: number, now: number): lease is Lease => isLive(lease, limit, now) && lease.free >= need;

  /** The lease that can serve `need` now, moving on to the next one when the current one cannot. */
  function leaseFor(st: KeyState, limit: number, need: number, now: number): Lease | null {
    for (const lease of [st.lease, st.next]) {
      if (!lease) continue;
      // A changed limit: what was booked under the old one ends now, so that a quota set on a key that was
      // unlimited starts from its spend.
      if (lease.limit !== limit) retire(lease);
      // After a reconnect Redis may have lost the counter, and the lease's reservation with it: the lease
      // serves no more. Its end settles its spend: exact if Redis kept them; if not, on a counter seeded again
      // from PostgreSQL, too much by what of it the seed already had (never too little).
      else if (lease.kind !== 'rate' && !inner.holdsCounter(lease.key)) retire(lease);
    }
    if (st.next?.retired) st.next = null;
    if (st.lease?.retired) st.lease = null;
    // Kept aside: after serves() says no, its type guard has TypeScript take them for null.
    const current = st.lease;
    const upcoming = st.next;
    if (serves(st.lease, limit, need, now)) return st.lease;
    if (!serves(st.next, limit, need, now)) {
      // The request goes to the store, where a quota lease's unused units are still reserved: they go back
      // first (the settle is sent ahead of the admit), or a lease could refuse the request that drained it.
      if (current?.kind === 'quota' && isLive(current, limit, now)) retire(current);
      if (upcoming?.kind === 'quota' && isLive(upcoming, limit, now)) retire(upcoming);
      return null;
    }
    if (st.lease) retire(st.lease);
    st.lease = st.next;
    st.next = null;
    return st.lease;
  }

  function retire(lease: Lease): void {
    lease.retired = true;
    endIfDone(lease);
  }

  /**
   * A retired quota or tally lease with nothing in flight tells the store what its requests spent: a quota
   * lease settles its reservation with their spend (even none: an unsettled one would expire as spent), a
   * tally adds its spend. A retired tally with requests still running (a stream may run for minutes) sends
   * what it holds at once and then each request's spend as it ends: the counter it adds to may have just been
   * given a quota.
   */
  function endIfDone(lease: Lease): void {
    if (!lease.retired || lease.ended) return;
    if (lease.inflight > 0) {
      if (lease.kind === 'tally') sendTallied(lease);
      return;
    }
    lease.ended = true;
    open.delete(lease);
    const quota = lease.kind === 'quota';
    const amount = quota ? lease.spent : lease.spent - lease.sent;
    if (amount === 0 && !quota) return;
    // The failure policy below keeps what it could not tell Redis and replays it.
    void track(inner.settle([lease.key], quota ? lease.id : `${lease.id}:end`, amount)).catch(() => {});
  }

  /** A retired tally's spend so far, under an id of its own per send (the store counts each id once). */
  function sendTallied(lease: Lease): void {
    const amount = lease.spent - lease.sent;
    if (amount === 0) return;
    lease.sent = lease.spent;
    // The failure policy below keeps what it could not tell Redis and replays it.
    void track(inner.settle([lease.key], `${lease.id}:part${++lease.parts}`, amount)).catch(() => {});
  }

  function newLease(id: string, key: string, kind: Lease['kind'], limit: number, units: number, since: number): Lease {
    const free = kind === 'tally' ? Number.POSITIVE_INFINITY : units;
    const until = since + leaseMs * (1 - LENGTH_JITTER * Math.random());
    return { id, key, kind, limit, free, spent: 0, inflight: 0, sent: 0, parts: 0, until, retired: false, ended: kind === 'rate' };
  }

  function install(st: KeyState, lease: Lease, now: number): void {
    if (lease.kind !== 'rate') open.add(lease);
    if (closed) return retire(lease);
    if (isLive(st.lease, lease.limit, now)) {
      if (st.next) retire(st.next);
      st.next = lease;
    } else {
      if (st.lease) retire(st.lease);
      st.lease = lease;
    }
  }

  /** Slots for a rate lease, or 0 when the key is not worth one or its limit is too small. */
  function rateLeaseSize(spec: RateLimitSpec, st: KeyState): number {
    const perWindow = (spec.limit * windowMs) / RATE_WINDOW_MS;
    const count = Math.min(wanted(st), Math.floor(perWindow * RATE_SHARE));
    return demand(st) < MIN_DEMAND || count < MIN_DEMAND ? 0 : count;
  }

  /** Requests' worth of units for a quota lease, or 0 (as above). */
  function quotaLeaseSize(spec: QuotaSpec, st: KeyState): number {
    const count = Math.min(wanted(st), Math.floor((spec.limit * QUOTA_SHARE) / unitsPerRequest(st)));
    return demand(st) < MIN_DEMAND || count < MIN_DEMAND ? 0 : count;
  }

  function acquireRate(spec: RateLimitSpec, st: KeyState, now: number, after?: Promise<unknown>): void {
    const count = rateLeaseSize(spec, st);
    if (count === 0) return;
    const id = randomUUID();
    const admit = () => inner.admit({ rateLimits: [{ key: spec.key, limit: spec.limit, count }], quotas: [], reservationId: id, desired: 0, minimum: 0, ttlMs: leaseMs });
    acquire(st, admit, after, now, () => {
      // A rate lease holds no reservation; this only lets the failure policy forget it.
      void track(inner.release([], id)).catch(() => {});
      return newLease(id, spec.key, 'rate', spec.limit, count, now);
    });
  }

  function acquireQuota(spec: QuotaSpec, st: KeyState, ttlMs: number, now: number, after?: Promise<unknown>): void {
    const units = quotaLeaseSize(spec, st) * unitsPerRequest(st);
    // Checked under a limit lowered by the lease itself, which must stay a limit.
    if (units === 0 || units > spec.limit - units) return;
    const id = randomUUID();
    // Only while as much again stays free for everyone else: near its limit a quota is checked request by
    // request, so no lease takes its last units.
    const quota = { ...spec, limit: spec.limit - units };
    // Should this instance die, the reservation expires as spent: its lease errs on the side of refusing. A
    // live lease ends before: at most `ttlMs` (a request's longest) after its last request, taken within its
    // life; the second life is margin for the sweep. (An end settled later still, after an outage as long,
    // counts the units and the spend both: too much, not too little.)
    const admit = () =>
      inner.admit({ rateLimits: [], quotas: [quota], reservationId: id, desired: units, minimum: units, ttlMs: ttlMs + 2 * leaseMs, expiresAsSpent: true });
    acquire(st, admit, after, now, () => newLease(id, spec.key, 'quota', spec.limit, units, now));
  }

  /** Asks the store for a lease once `after` (the asking request's own admit) is done: that comes first. */
  function acquire(st: KeyState, admit: () => Promise<AdmitResult>, after: Promise<unknown> | undefined, now: number, makeLease: () => Lease): void {
    st.acquiring = true;
    const asked = after ? after.then(admit, admit) : admit();
    void track(asked)
      .then((result) => {
        if (result.ok) install(st, makeLease(), Date.now());
        else st.refusedUntil = now + windowMs / 4;
      })
      // The request that asked went the exact way; a later one asks again.
      .catch(() => {})
      .finally(() => {
        st.acquiring = false;
      });
  }

  /** No lease is being asked for, and none was refused lately. */
  const mayAsk = (st: KeyState, now: number): boolean => !st.acquiring && now >= st.refusedUntil;

  /** Past three quarters of its length, or unable to serve two more requests like this one. */
  const ageing = (lease: Lease, need: number, now: number): boolean => lease.until - now < leaseMs / 4 || lease.free < 2 * need;

  function tally(spec: QuotaSpec, st: KeyState, now: number): Lease | null {
    const lease = leaseFor(st, spec.limit, 0, now);
    if (lease || !inner.holdsCounter(spec.key)) return lease;
    install(st, newLease(randomUUID(), spec.key, 'tally', spec.limit, 0, now), now);
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
      endIfDone(lease);
    }
    return true;
  }

  // Retires leases whose time is over, and the quota leases and tallies of keys quiet for a window or so (their
  // units go back, their spend reaches the counter); forgets idle keys; lets go of requests that never settled.
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [key, st] of keys) {
      const quiet = now - st.lastSeen >= st.quietMs;
      for (const lease of [st.lease, st.next]) if (lease && (now >= lease.until || (quiet && lease.kind !== 'rate'))) retire(lease);
      if (st.lease?.retired) st.lease = null;
      if (st.next?.retired) st.next = null;
      if (!st.lease && !st.next && !st.acquiring && now - st.windowStart >= 2 * windowMs) keys.delete(key);
    }
    for (const [id, s] of served) if (s.expiresAt <= now) finish(id, null);
  }, Math.max(100, Math.min(SWEEP_MS, windowMs / 4)));
  timer.unref();

  return {
    ...inner,
    get down() {
      return storeDown();
    },
    pendingSettle(key) {
      let amount = 0;
      for (const lease of open) if (lease.key === key) amount += lease.spent - lease.sent;
      return amount;
    },
    async admit(raw) {
      const req = normalizeAdmit(raw);
      const rates = req.rateLimits.filter((r) => r.limit > 0);
      // While the store is down, its failure policy decides request by request, as without leases.
      if (closed || storeDown() || served.has(req.reservationId) || rates.length + req.quotas.length === 0) return inner.admit(raw);
      const now = Date.now();
      const rateStates = rates.map((r) => observe(r.key, now, 0));
      const quotaStates = req.quotas.map((q) => observe(q.key, now, q.limit < 0 ? 0 : req.desired));
      const rateLeases = rates.map((r, i) => leaseFor(rateStates[i]!, r.limit, 1, now));
      const quotaLeases = req.quotas.map((q, i) => (q.limit < 0 ? tally(q, quotaStates[i]!, now) : leaseFor(quotaStates[i]!, q.limit, req.desired, now)));

      if (!rateLeases.every(Boolean) || !quotaLeases.every(Boolean)) {
        // Leases only help when every key of the request can have one (an unlimited quota without a tally has
        // its counter seeded by this admit); otherwise each would be booked for nothing.
        const worthIt =
          rates.every((r, i) => rateLeases[i] || (mayAsk(rateStates[i]!, now) && rateLeaseSize(r, rateStates[i]!) > 0)) &&
          req.quotas.every((q, i) => quotaLeases[i] || (q.limit >= 0 && mayAsk(quotaStates[i]!, now) && quotaLeaseSize(q, quotaStates[i]!) > 0));
        // This request's own admit goes first: the leases it asks for never take the room it needs.
        const admitted = inner.admit(raw);
        if (worthIt) {
          rates.forEach((r, i) => rateLeases[i] || acquireRate(r, rateStates[i]!, now, admitted));
          req.quotas.forEach((q, i) => quotaLeases[i] || acquireQuota(q, quotaStates[i]!, req.ttlMs, now, admitted));
        }
        return admitted;
      }

      for (const lease of rateLeases) lease!.free--;
      for (const lease of quotaLeases) {
        lease!.free -= req.desired;
        lease!.inflight++;
      }
      served.set(req.reservationId, { quotaLeases: quotaLeases as Lease[], amount: req.desired, expiresAt: now + req.ttlMs });
      // The next lease is taken before this one runs out.
      rates.forEach((r, i) => {
        const st = rateStates[i]!;
        if (!st.next && mayAsk(st, now) && ageing(rateLeases[i]!, 1, now)) acquireRate(r, st, now);
      });
      req.quotas.forEach((q, i) => {
        const st = quotaStates[i]!;
        if (q.limit >= 0 && !st.next && mayAsk(st, now) && ageing(quotaLeases[i]!, req.desired, now)) acquireQuota(q, st, req.ttlMs, now);
      });
      return { ok: true, reserved: req.desired };
    },
    async settle(keyList, id, actual) {
      if (!finish(id, actual) && !takenOver.has(id)) await inner.settle(keyList, id, actual);
    },
    async release(keyList, id) {
      if (!finish(id, null) && !takenOver.has(id)) await inner.release(keyList, id);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      // Leases still being taken end as soon as they are (install retires them once closed).
      await Promise.allSettled([...pending]);
      // Requests still in flight count as spending what they took: their settle would come too late.
      const leases = new Set<Lease>();
      for (const [id, s] of served) {
        takenOver.add(id);
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
      await Promise.allSettled([...pending]);
      await inner.close();
    },
  };
}
