/**
 * The store as the relay uses it when Redis may fail (design.md §5). `closed` (the default) refuses a request
 * whose limits cannot be checked; `open` checks them against in-process limits instead, exact per instance only.
 * Either way each decision is logged (at most once a minute) and counted.
 *
 * After the first failure the store is treated as down: requests no longer wait on Redis, and a probe pings it
 * until it answers. The quota invariant survives the round trip because this instance remembers what Redis
 * missed and tells it before it is trusted again:
 * - every settle and release that failed is replayed (both are idempotent per reservation id);
 * - spend admitted in-process meanwhile is added to Redis's counters;
 * - reservations still in flight are booked again (idempotent too), so a Redis that lost them counts them.
 * A counter Redis lost (a restart without persistence, a flush) is seeded again by its next admit from the
 * durable spend, read fresh from PostgreSQL (`durableUsed`), never from a baseline cached before the outage.
 * In-process counters are seeded the same way when an outage begins, and hold this instance's reservations.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AdmitRequest, LimitStore } from './limit-store.js';
import { createMemoryStore } from './memory-store.js';
import { withTimeout } from '../with-timeout.js';

export interface StoreFailureStats {
  /** Store calls that failed. */
  failures: number;
  /** Requests admitted by the in-process limits (fail-open). */
  failOpenAdmits: number;
  /** Requests refused because limits could not be checked (fail-closed). */
  failClosedRefusals: number;
  /** Times the store came back after being down. */
  recoveries: number;
  /** Settles and releases waiting to be replayed to Redis. */
  replayPending: number;
}

export interface FailurePolicyOptions {
  /**
   * The durable spend behind a quota key: PostgreSQL's used_quota plus what this instance has served but not
   * written yet; null when unknown (the request's own baseline is used then).
   */
  durableUsed?: (key: string) => Promise<number | null>;
  /** How often a down store is pinged (ms). */
  probeMs?: number;
  /**
   * A call Redis has not answered within this is a failure (ms). ioredis keeps a command that was in flight
   * when the connection dropped (maxRetriesPerRequest does not fail it) and resends it when Redis is back, so
   * without a bound its caller would wait out the whole outage.
   */
  callTimeoutMs?: number;
  /** Bound on per-reservation replays kept; beyond it the oldest are dropped (their reservations expire). */
  maxReplay?: number;
}

type Replay = { op: 'settle'; keys: string[]; id: string; actual: number } | { op: 'release'; keys: string[]; id: string };

/** A reservation this instance holds and has not settled or released yet. */
interface Live {
  keys: string[];
  /** The request's own baselines, per key (used when the durable spend cannot be read). */
  baselines: number[];
  amount: number;
  expiresAt: number;
  /** The in-process store holding it, when it was admitted (or moved) there during an outage. */
  local: LimitStore | null;
  /** Redis holds it (admitted there, or booked again on recovery): its settle must reach Redis by id. */
  inRedis: boolean;
  /** A lease's units: booked again as such (AdmitRequest.expiresAsSpent). */
  expiresAsSpent: boolean;
}

export function withFailurePolicy(
  store: LimitStore,
  mode: 'closed' | 'open',
  logger: Logger,
  opts: FailurePolicyOptions = {},
): LimitStore & { failureStats: StoreFailureStats; readonly down: boolean } {
  const probeMs = opts.probeMs ?? 500;
  const callTimeoutMs = opts.callTimeoutMs ?? 2_000;
  const bounded = <T>(op: string, p: Promise<T>): Promise<T> => withTimeout(p, callTimeoutMs, `limit store ${op} timed out after ${callTimeoutMs} ms`);
  const maxReplay = opts.maxReplay ?? 100_000;
  const failureStats: StoreFailureStats = { failures: 0, failOpenAdmits: 0, failClosedRefusals: 0, recoveries: 0, replayPending: 0 };
  let fallback = createMemoryStore();
  /** In-process stores of past outages, closed once no reservation lives in them. */
  let retired: LimitStore[] = [];
  const live = new Map<string, Live>();
  let replay: Replay[] = [];
  /**
   * Quota keys of admits that failed or timed out. ioredis resends such an admit when Redis is back; if Redis
   * lost the counter meanwhile, that admit seeds it from the request's baseline, which may be old. Recovery
   * sets these counters from the durable spend.
   */
  const suspects = new Set<string>();
  /** Spend admitted in-process and settled while down, per quota key: added to Redis on recovery. */
  let owed = new Map<string, number>();
  // Quota keys given a durable baseline since the last recovery (Redis) or outage start (in-process). Before
  // the first outage Redis's counters follow the requests' own baselines, so those are trusted there.
  let freshRedis: Set<string> | null = null;
  let freshFallback = new Set<string>();
  let down = false;
  /** The move of live reservations into the in-process store, which in-process admits wait for. */
  let moving: Promise<void> = Promise.resolve();
  let probe: NodeJS.Timeout | null = null;
  let busy = false;
  let closed = false;
  let lastLog = 0;

  const sync = () => {
    failureStats.replayPending = replay.length + owed.size;
  };

  const failed = (op: string, err: unknown) => {
    failureStats.failures++;
    if (Date.now() - lastLog > 60_000) {
      lastLog = Date.now();
      logger.error('limit store unreachable', { op, policy: mode, err, failures: failureStats.failures });
    }
  };

  function markDown(op: string, err: unknown): void {
    failed(op, err);
    if (down || closed) return;
    down = true;
    logger.warn('limit store down; limits are now checked by policy', { policy: mode });
    if (mode === 'open') moving = moveToFallback();
    probe = setInterval(() => void recover(), probeMs);
    probe.unref();
  }

  /** Fail-open: this instance's reservations in flight are held by the in-process counters too. */
  async function moveToFallback(): Promise<void> {
    const local = fallback;
    const now = Date.now();
    for (const [id, entry] of live) {
      // An entry of an earlier outage's store is moved too: its settle must reach this one.
      if (entry.local === local || entry.expiresAt <= now) continue;
      const result = await local.admit(await withDurableBaselines(rebook(id, entry, now), freshFallback));
      if (result.ok) entry.local = local;
    }
  }

  /**
   * An admit that books `entry` again under its own id, idempotent. Its limit is one no spend reaches, so it
   * always fits and (unlike an unlimited quota) holds the reservation.
   */
  function rebook(id: string, entry: Live, now: number): AdmitRequest {
    return {
      rateLimits: [],
      quotas: entry.keys.map((key, i) => ({ key, limit: Number.MAX_SAFE_INTEGER, baseline: entry.baselines[i] ?? 0 })),
      reservationId: id,
      desired: entry.amount,
      minimum: 0,
      ttlMs: Math.max(1, entry.expiresAt - now),
      expiresAsSpent: entry.expiresAsSpent,
    };
  }

  function queue(entry: Replay): void {
    replay.push(entry);
    if (replay.length > maxReplay) {
      const dropped = replay.length - maxReplay;
      replay = replay.slice(dropped);
      logger.error('limit store replay queue full; the oldest settles are dropped (their reservations expire)', { dropped });
    }
    sync();
  }

  /** Sends Redis what it missed, in order: per-reservation replays, then in-process spend. */
  async function drainReplay(): Promise<void> {
    while (replay.length > 0) {
      const entry = replay[0]!;
      if (entry.op === 'settle') await bounded('settle', store.settle(entry.keys, entry.id, entry.actual));
      else await bounded('release', store.release(entry.keys, entry.id));
      replay.shift();
      sync();
    }
    for (const [key, amount] of owed) {
      // A fresh id: Redis adds the amount to the counter if it holds it; if it lost it, PostgreSQL has it.
      await bounded('settle', store.settle([key], `owed:${randomUUID()}`, amount));
      owed.delete(key);
      sync();
    }
  }

  /**
   * The counters a resent admit may have seeded from a stale baseline get the durable spend. Reservations live
   * in other fields and are kept (as after a reconcile, leases booked before no longer expire as spent). (Another instance's settled spend not yet written to PostgreSQL is not in the
   * durable spend: such a counter may undercount by that much, once, after an outage.)
   */
  async function resetSuspects(): Promise<void> {
    if (!opts.durableUsed) return suspects.clear();
    for (const key of [...suspects]) {
      const used = await opts.durableUsed(key);
      if (used !== null) await bounded('reconcile', store.setQuotaUsed(key, used));
      suspects.delete(key);
    }
  }

  async function recover(): Promise<void> {
    if (busy || !down || closed) return;
    busy = true;
    try {
      await store.ping();
      await moving;
      // Before any counter is seeded again: a counter seeded from PostgreSQL already holds this spend.
      await drainReplay();
      await resetSuspects();
      const seeded = new Set<string>();
      const now = Date.now();
      for (const [id, entry] of live) {
        if (entry.expiresAt <= now) {
          if (!entry.local) live.delete(id);
          continue;
        }
        const result = await bounded('admit', store.admit(await withDurableBaselines(rebook(id, entry, now), seeded)));
        if (result.ok) entry.inRedis = true;
      }
      freshRedis = seeded;
      freshFallback = new Set();
      retired.push(fallback);
      fallback = createMemoryStore();
      down = false;
      if (probe) clearInterval(probe);
      probe = null;
      failureStats.recoveries++;
      logger.warn('limit store back; missed settles replayed and reservations booked again', { policy: mode, recoveries: failureStats.recoveries });
    } catch (err) {
      failed('recover', err);
      logger.debug('limit store still down', { err });
    } finally {
      busy = false;
    }
    // Settles that arrived while recovering.
    if (!down && replay.length > 0) await flushLate();
  }

  async function flushLate(): Promise<void> {
    if (busy || down || closed) return;
    busy = true;
    try {
      await drainReplay();
    } catch (err) {
      markDown('replay', err);
    } finally {
      busy = false;
    }
  }

  /** The request with each quota's baseline replaced by the durable spend, the first time a key is used. */
  async function withDurableBaselines(req: AdmitRequest, fresh: Set<string> | null): Promise<AdmitRequest> {
    if (!fresh || !opts.durableUsed || req.quotas.every((q) => fresh.has(q.key))) return req;
    const quotas = await Promise.all(
      req.quotas.map(async (q) => {
        if (fresh.has(q.key)) return q;
        const used = await opts.durableUsed!(q.key).catch(() => null);
        // Unknown (PostgreSQL away too): the request's baseline it is, once; asking on every request would
        // put a database timeout in front of each of them.
        fresh.add(q.key);
        return used === null ? q : { ...q, baseline: used };
      }),
    );
    return { ...req, quotas };
  }

  function remember(req: AdmitRequest, reserved: number, local: LimitStore | null): void {
    live.set(req.reservationId, {
      keys: req.quotas.map((q) => q.key),
      baselines: req.quotas.map((q) => q.baseline),
      amount: reserved,
      expiresAt: Date.now() + req.ttlMs,
      local,
      inRedis: local === null,
      expiresAsSpent: req.expiresAsSpent === true,
    });
  }

  async function settleInRedis(keys: string[], id: string, actual: number): Promise<void> {
    if (down) return queue({ op: 'settle', keys, id, actual });
    try {
      await bounded('settle', store.settle(keys, id, actual));
    } catch (err) {
      queue({ op: 'settle', keys, id, actual });
      markDown('settle', err);
    }
  }

  async function releaseInRedis(keys: string[], id: string): Promise<void> {
    if (down) return queue({ op: 'release', keys, id });
    try {
      await bounded('release', store.release(keys, id));
    } catch (err) {
      queue({ op: 'release', keys, id });
      markDown('release', err);
    }
  }

  // Bounds `live` should the caller ever fail to settle or release: an expired reservation is gone anyway.
  const janitor = setInterval(() => {
    const now = Date.now();
    for (const [id, entry] of live) if (entry.expiresAt <= now) live.delete(id);
    const used = new Set([...live.values()].map((e) => e.local));
    const idle = retired.filter((s) => !used.has(s));
    retired = retired.filter((s) => used.has(s));
    for (const s of idle) void s.close();
  }, 60_000);
  janitor.unref();

  return {
    ...store,
    failureStats,
    get down() {
      return down;
    },
    // While down every request goes through admit, which applies the failure policy.
    holdsCounter: (key) => !down && store.holdsCounter(key),
    // Kept values live in Redis only: while it is down they cannot be read or written, whatever the policy.
    async putValue(key, value, ttlMs) {
      if (down) throw new Error('limit store down');
      try {
        await bounded('putValue', store.putValue(key, value, ttlMs));
      } catch (err) {
        markDown('putValue', err);
        throw err;
      }
    },
    async getValue(key) {
      if (down) throw new Error('limit store down');
      try {
        return await bounded('getValue', store.getValue(key));
      } catch (err) {
        markDown('getValue', err);
        throw err;
      }
    },
    async admit(req) {
      if (!down) {
        try {
          const result = await bounded('admit', store.admit(await withDurableBaselines(req, freshRedis)));
          // Only a limited quota holds a reservation worth moving or booking again; its settle finds Redis by id.
          if (result.ok && req.quotas.some((q) => q.limit >= 0)) remember(req, result.reserved, null);
          return result;
        } catch (err) {
          // It may have booked before its answer was lost, or be resent later: that reservation goes once Redis
          // answers again, and its counters are set from the durable spend then.
          queue({ op: 'release', keys: req.quotas.map((q) => q.key), id: req.reservationId });
          for (const q of req.quotas) suspects.add(q.key);
          markDown('admit', err);
        }
      }
      if (mode === 'closed') {
        failureStats.failClosedRefusals++;
        throw new GatewayError('service_unavailable', 'Rate limits and quotas cannot be checked right now; please retry shortly.');
      }
      failureStats.failOpenAdmits++;
      await moving;
      const local = fallback;
      const result = await local.admit(await withDurableBaselines(req, freshFallback));
      if (result.ok) remember(req, result.reserved, local);
      return result;
    },
    async settle(keys, id, actual) {
      // Counters the in-process store holds already were seeded without this spend; one the move below seeds
      // reads the durable spend, which has it (its record is queued before its settle).
      const heldBefore = down && mode === 'open' ? keys.filter((key) => fallback.holdsCounter(key)) : [];
      // Not while its reservation may be on its way into the in-process store: the settle must follow it there,
      // as that store's counter was seeded without this spend (a lease's: its instance still owed it).
      if (down) await moving;
      const entry = live.get(id);
      // Forgotten first, so a recovery running meanwhile does not book it again.
      live.delete(id);
      if (entry?.local) {
        await entry.local.settle(keys, id, actual);
        if (entry.inRedis) return settleInRedis(keys, id, actual);
        if (!down) return settleInRedis(keys, `owed:${id}`, actual);
        for (const key of new Set(keys)) owed.set(key, (owed.get(key) ?? 0) + actual);
        sync();
        return;
      }
      // Spend the in-process store holds no reservation for (a tally's, a request admitted before the outage
      // without a limited quota): a counter seeded there before this settle began counts it now. (One seeded
      // between the record's queueing and this call, across the leases' await, counts it twice: the error
      // refuses early, never overspends.)
      if (down && mode === 'open' && heldBefore.length > 0) await fallback.settle(heldBefore, id, actual);
      return settleInRedis(keys, id, actual);
    },
    async release(keys, id) {
      if (down) await moving;
      const entry = live.get(id);
      live.delete(id);
      if (entry?.local) {
        await entry.local.release(keys, id);
        if (entry.inRedis) return releaseInRedis(keys, id);
        return;
      }
      return releaseInRedis(keys, id);
    },
    async close() {
      closed = true;
      if (probe) clearInterval(probe);
      clearInterval(janitor);
      if (replay.length + owed.size > 0) {
        logger.warn('limit store closed with missed settles not replayed; the counters are reconciled at the next start', { pending: replay.length + owed.size });
      }
      await Promise.all([fallback, ...retired].map((s) => s.close()));
      await store.close();
    },
  };
}
