/**
 * The store as the relay uses it when Redis may fail (design.md §5). `closed` (the default) refuses a request
 * whose limits cannot be checked; `open` checks them against in-process limits instead, exact per instance only.
 * Either way each decision is logged (at most once a minute) and counted.
 */
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LimitStore } from './limit-store.js';
import { createMemoryStore } from './memory-store.js';

export interface StoreFailureStats {
  failures: number;
  failOpenAdmits: number;
}

export function withFailurePolicy(store: LimitStore, mode: 'closed' | 'open', logger: Logger): LimitStore & { failureStats: StoreFailureStats } {
  const fallback = createMemoryStore();
  // Reservations made by the fallback settle there, even after Redis is back.
  const inFallback = new Set<string>();
  const failureStats: StoreFailureStats = { failures: 0, failOpenAdmits: 0 };
  let lastLog = 0;

  const failed = (op: string, err: unknown) => {
    failureStats.failures++;
    if (Date.now() - lastLog > 60_000) {
      lastLog = Date.now();
      logger.error('limit store unreachable', { op, policy: mode, err, failures: failureStats.failures });
    }
  };

  return {
    ...store,
    failureStats,
    async admit(req) {
      try {
        return await store.admit(req);
      } catch (err) {
        failed('admit', err);
        if (mode === 'closed') throw new GatewayError('service_unavailable', 'Rate limits and quotas cannot be checked right now; please retry shortly.');
        failureStats.failOpenAdmits++;
        const result = await fallback.admit(req);
        if (result.ok) inFallback.add(req.reservationId);
        return result;
      }
    },
    async settle(keys, id, actual) {
      if (inFallback.delete(id)) return fallback.settle(keys, id, actual);
      // A lost settle leaves the reservation to expire; PostgreSQL still records the real cost.
      await store.settle(keys, id, actual).catch((err) => failed('settle', err));
    },
    async release(keys, id) {
      if (inFallback.delete(id)) return fallback.release(keys, id);
      await store.release(keys, id).catch((err) => failed('release', err));
    },
    async close() {
      await fallback.close();
      await store.close();
    },
  };
}
