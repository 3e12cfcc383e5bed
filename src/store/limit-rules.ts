/** What both LimitStore backends share: GCRA, quota room, request normalisation, handler isolation. */
import type { AdmitRequest } from './limit-store.js';

/** Rate limits are per minute (design.md §4). */
export const RATE_WINDOW_MS = 60_000;

/** How long a settled reservation id is remembered, so a repeated settle is a no-op. */
export const SETTLED_MEMORY_MS = 10 * 60_000;

/**
 * Slack on the GCRA comparison: `n * (60000 / L)` summed in floating point can land a hair above
 * `60000 - T` for the L-th request of a burst and wrongly refuse it. A microsecond is far below any
 * clock's resolution that matters here.
 */
export const GCRA_EPSILON_MS = 1e-3;

export type GcraDecision = { ok: true; tat: number } | { ok: false; retryAfterMs: number };

/**
 * One GCRA step for a per-minute limit, booking `count` arrivals if the last of them fits: `tat` is the stored
 * theoretical arrival time (undefined when the key is cold). On success the returned `tat` is what to store.
 */
export function gcra(tat: number | undefined, now: number, limit: number, count = 1): GcraDecision {
  const interval = RATE_WINDOW_MS / limit;
  const base = Math.max(tat ?? now, now);
  const ahead = base + (count - 1) * interval - now;
  const allowance = RATE_WINDOW_MS - interval;
  if (ahead > allowance + GCRA_EPSILON_MS) {
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(ahead - allowance)) };
  }
  return { ok: true, tat: base + count * interval };
}

/** Units a quota can still give: infinite when unlimited (negative limit), never below zero. */
export function quotaRoom(limit: number, used: number): number {
  if (limit < 0) return Number.POSITIVE_INFINITY;
  return Math.max(0, limit - used);
}

/**
 * Duplicate quota keys would book one reservation twice into one counter, so they are folded (the
 * first spec wins); the same holds for rate-limit keys. `minimum` above `desired` is read as
 * `desired`, or an unlimited quota could refuse.
 */
export function normalizeAdmit(req: AdmitRequest): AdmitRequest {
  return {
    ...req,
    rateLimits: uniqueByKey(req.rateLimits),
    quotas: uniqueByKey(req.quotas),
    minimum: Math.min(req.minimum, req.desired),
  };
}

export function uniqueKeys(keys: string[]): string[] {
  return [...new Set(keys)];
}

function uniqueByKey<T extends { key: string }>(specs: T[]): T[] {
  const seen = new Set<string>();
  return specs.filter((spec) => {
    if (seen.has(spec.key)) return false;
    seen.add(spec.key);
    return true;
  });
}

/** Runs a subscriber's handler so that one throwing handler cannot stop delivery to the others. */
export function deliver(handler: (message: string) => void, channel: string, message: string): void {
  try {
    handler(message);
  } catch (err) {
    process.emitWarning(`limit store subscriber for "${channel}" threw: ${String(err)}`);
  }
}
