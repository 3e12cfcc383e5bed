/** In-process LimitStore: the embedded default, with the Redis store's semantics (design.md §1). */
import { EventEmitter } from 'node:events';
import type { AdmitRequest, AdmitResult, LimitStore } from './limit-store.js';
import { deliver, gcra, normalizeAdmit, quotaRoom, SETTLED_MEMORY_MS, uniqueKeys } from './limit-rules.js';

interface Reservation {
  amount: number;
  expiresAt: number;
  /** Counts as spent should it expire unsettled, if the counter was not set since (expiresAsSpent). */
  asSpent: boolean;
  /** The counter's epoch when it was booked. */
  epoch: number;
}

interface QuotaCounter {
  /** Settled spend; null while the store does not hold the counter (reservations may still exist). */
  settled: number | null;
  reservations: Map<string, Reservation>;
  reserved: number;
  /** Earliest reservation expiry, so a sweep only scans when something can have expired. */
  nextExpiry: number;
  /** Settled reservation id -> when; insertion order is time order, so trimming stops early. */
  settledIds: Map<string, number>;
  /** How many times setQuotaUsed set `settled` (reconciliation). */
  epoch: number;
}

interface StoredValue {
  value: string;
  expiresAt: number;
}

/** Values kept at once; past it the oldest go first (an embedded gateway's memory is the process's). */
const MAX_VALUES = 100_000;

interface HitWindow {
  count: number;
  expiresAt: number;
}

/** How often idle rate-limit and hit-window entries are dropped; only bounds memory. */
const JANITOR_INTERVAL_MS = 60_000;

export function createMemoryStore(): LimitStore {
  const tats = new Map<string, number>();
  const quotas = new Map<string, QuotaCounter>();
  const hits = new Map<string, HitWindow>();
  const values = new Map<string, StoredValue>();
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  let closed = false;

  const janitor = setInterval(() => {
    const now = Date.now();
    for (const [key, tat] of tats) if (tat <= now) tats.delete(key);
    for (const [key, window] of hits) if (window.expiresAt <= now) hits.delete(key);
    for (const [key, stored] of values) if (stored.expiresAt <= now) values.delete(key);
    for (const [key, counter] of quotas) {
      sweep(counter, now);
      trimSettled(counter, now);
      if (counter.settled === null && counter.reservations.size === 0 && counter.settledIds.size === 0) {
        quotas.delete(key);
      }
    }
  }, JANITOR_INTERVAL_MS);
  janitor.unref();

  function assertOpen(): void {
    if (closed) throw new Error('limit store is closed');
  }

  function counterFor(key: string): QuotaCounter {
    let counter = quotas.get(key);
    if (!counter) {
      counter = { settled: null, reservations: new Map(), reserved: 0, nextExpiry: Infinity, settledIds: new Map(), epoch: 0 };
      quotas.set(key, counter);
    }
    return counter;
  }

  function live(counter: QuotaCounter | undefined, now: number): number | null {
    if (!counter) return null;
    sweep(counter, now);
    return counter.settled === null ? null : counter.settled + counter.reserved;
  }

  function admit(raw: AdmitRequest): AdmitResult {
    const req = normalizeAdmit(raw);
    const now = Date.now();

    // Check every rate limit before booking any, and report the longest wait: the caller must
    // wait for all of them.
    const booked: Array<[string, number]> = [];
    let refusal: { key: string; retryAfterMs: number } | null = null;
    for (const { key, limit, count } of req.rateLimits) {
      if (limit <= 0) continue;
      const decision = gcra(tats.get(key), now, limit, count);
      if (decision.ok) booked.push([key, decision.tat]);
      else if (!refusal || decision.retryAfterMs > refusal.retryAfterMs) {
        refusal = { key, retryAfterMs: decision.retryAfterMs };
      }
    }
    if (refusal) return { ok: false, reason: 'rate_limited', ...refusal };

    let room = Number.POSITIVE_INFINITY;
    let tightest: string | null = null;
    for (const { key, limit, baseline } of req.quotas) {
      const used = live(quotas.get(key), now) ?? baseline;
      const left = quotaRoom(limit, used);
      if (left < room) {
        room = left;
        tightest = key;
      }
    }
    const reserved = Math.min(req.desired, room);
    if (tightest !== null && reserved < req.minimum) {
      return { ok: false, reason: 'insufficient_quota', key: tightest, remaining: room };
    }

    for (const [key, tat] of booked) tats.set(key, tat);
    const expiresAt = now + req.ttlMs;
    for (const { key, limit, baseline } of req.quotas) {
      const counter = counterFor(key);
      if (counter.settled === null) counter.settled = baseline;
      if (limit < 0) continue;
      counter.reserved -= counter.reservations.get(req.reservationId)?.amount ?? 0;
      counter.reservations.set(req.reservationId, { amount: reserved, expiresAt, asSpent: req.expiresAsSpent === true, epoch: counter.epoch });
      counter.reserved += reserved;
      counter.nextExpiry = Math.min(counter.nextExpiry, expiresAt);
    }
    return { ok: true, reserved };
  }

  function settle(keys: string[], id: string, actual: number): void {
    const now = Date.now();
    for (const key of uniqueKeys(keys)) {
      const counter = counterFor(key);
      // No sweep first, as in Redis: a lease's reservation that expired unswept is settled, not counted as spent too.
      trimSettled(counter, now);
      if (counter.settledIds.has(id)) continue;
      removeReservation(counter, id);
      // A counter the store does not hold stays absent: the next admit seeds it from PostgreSQL.
      if (counter.settled !== null) counter.settled += actual;
      counter.settledIds.set(id, now);
    }
  }

  function release(keys: string[], id: string): void {
    for (const key of uniqueKeys(keys)) {
      const counter = quotas.get(key);
      if (counter) removeReservation(counter, id);
    }
  }

  function hit(key: string, windowMs: number, by: number): number {
    const now = Date.now();
    let window = hits.get(key);
    if (!window || window.expiresAt <= now) {
      window = { count: 0, expiresAt: now + windowMs };
      hits.set(key, window);
    }
    window.count += by;
    return window.count;
  }

  return {
    async admit(req) {
      assertOpen();
      return admit(req);
    },
    async settle(keys, id, actual) {
      assertOpen();
      settle(keys, id, actual);
    },
    async release(keys, id) {
      assertOpen();
      release(keys, id);
    },
    holdsCounter(key) {
      return !closed && (quotas.get(key)?.settled ?? null) !== null;
    },
    async quotaUsed(key) {
      assertOpen();
      return live(quotas.get(key), Date.now());
    },
    async setQuotaUsed(key, used) {
      assertOpen();
      const counter = counterFor(key);
      counter.settled = used;
      counter.epoch++;
    },
    async hit(key, windowMs, by = 1) {
      assertOpen();
      return hit(key, windowMs, by);
    },
    async putValue(key, value, ttlMs) {
      assertOpen();
      values.delete(key);
      if (values.size >= MAX_VALUES) values.delete(values.keys().next().value!);
      values.set(key, { value, expiresAt: Date.now() + ttlMs });
    },
    async getValue(key) {
      assertOpen();
      const stored = values.get(key);
      return stored && stored.expiresAt > Date.now() ? stored.value : null;
    },
    async publish(channel, message) {
      assertOpen();
      // Delivered asynchronously, as over Redis, so a handler never runs inside its publisher's call.
      const listeners = bus.listeners(channel);
      if (listeners.length > 0) queueMicrotask(() => bus.emit(channel, message));
    },
    async subscribe(channel, handler) {
      assertOpen();
      const listener = (message: string): void => deliver(handler, channel, message);
      bus.on(channel, listener);
      return async () => {
        bus.off(channel, listener);
      };
    },
    async ping() {
      assertOpen();
    },
    async close() {
      closed = true;
      clearInterval(janitor);
      bus.removeAllListeners();
    },
  };
}

function sweep(counter: QuotaCounter, now: number): void {
  if (now < counter.nextExpiry) return;
  let next = Infinity;
  for (const [id, reservation] of counter.reservations) {
    if (reservation.expiresAt <= now) {
      counter.reservations.delete(id);
      counter.reserved -= reservation.amount;
      if (reservation.asSpent && reservation.epoch === counter.epoch && counter.settled !== null) counter.settled += reservation.amount;
    } else {
      next = Math.min(next, reservation.expiresAt);
    }
  }
  counter.nextExpiry = next;
  if (counter.reservations.size === 0) counter.reserved = 0;
}

function removeReservation(counter: QuotaCounter, id: string): void {
  const reservation = counter.reservations.get(id);
  if (!reservation) return;
  counter.reservations.delete(id);
  counter.reserved = counter.reservations.size === 0 ? 0 : counter.reserved - reservation.amount;
}

function trimSettled(counter: QuotaCounter, now: number): void {
  for (const [id, at] of counter.settledIds) {
    if (at > now - SETTLED_MEMORY_MS) break;
    counter.settledIds.delete(id);
  }
}
