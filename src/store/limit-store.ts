/**
 * What the relay needs from Redis, as one interface with a Redis and an in-process implementation
 * of identical semantics (design.md §1, §4). Every method is one atomic operation: on Redis, one
 * round trip running one Lua script.
 *
 * Keys are built by the caller. For Redis Cluster every key one call touches must hash to one slot,
 * so callers tag them with the tenant (`{tenantId}:...`): a token and its channels share a tenant.
 */

/** A per-minute request limit (GCRA: a burst of `limit`, then one every 60 s / limit). */
export interface RateLimitSpec {
  key: string;
  /** Requests per minute; -1 (or 0) means unlimited and is not booked. */
  limit: number;
  /** Arrivals booked at once, all or none (default 1): a lease of slots (leases.ts). */
  count?: number;
}

/**
 * A quota counter: `limit` units in all; -1 means unlimited. An unlimited quota still counts its settled spend
 * (a limit set later starts from the true spend) but holds no reservations: they only matter against a limit.
 */
export interface QuotaSpec {
  key: string;
  limit: number;
  /**
   * Durable spend known to PostgreSQL. Seeds the live counter when the store does not hold it
   * (first use, or Redis lost its data); ignored when the counter exists.
   */
  baseline: number;
}

export interface AdmitRequest {
  rateLimits: RateLimitSpec[];
  quotas: QuotaSpec[];
  /** Unique per attempt; settle and release name it. */
  reservationId: string;
  /** Reserve `desired` units if every quota has room, else the most every quota has room for, if at least `minimum`. */
  desired: number;
  minimum: number;
  /** An unsettled reservation expires after this and returns its units. */
  ttlMs: number;
  /**
   * A lease's units (leases.ts): should the reservation expire unsettled (its instance died), its units count as
   * spent, as its requests were served, instead of returning. Not if the counter was set since it was booked
   * (setQuotaUsed, from PostgreSQL, which has that spend).
   */
  expiresAsSpent?: boolean;
}

export type AdmitResult =
  | { ok: true; reserved: number }
  | { ok: false; reason: 'rate_limited'; key: string; retryAfterMs: number }
  | { ok: false; reason: 'insufficient_quota'; key: string; remaining: number };

export interface LimitStore {
  /** Checks and books every rate limit and reserves on every quota, all or nothing. */
  admit(req: AdmitRequest): Promise<AdmitResult>;
  /**
   * Replaces the reservation by the real cost on each quota (if it already expired, the cost is still added).
   * A second settle of the same id within 10 minutes adds nothing. A quota whose counter the store does not
   * hold is not created here: the next admit seeds it from its baseline.
   */
  settle(quotaKeys: string[], reservationId: string, actual: number): Promise<void>;
  /** Drops the reservation and returns its units. Idempotent. */
  release(quotaKeys: string[], reservationId: string): Promise<void>;
  /**
   * True when this process knows the store holds `key`'s live counter, so a settle will count on it: a lease may
   * then add up an unlimited quota's spend and settle it later, and an admit with nothing to check needs no
   * round trip (its only other work is to seed the counter). False when unsure (never seen, or the store may
   * have lost its data since).
   */
  holdsCounter(key: string): boolean;
  /** Live spend (settled + reserved, expired reservations swept), or null when the store holds no counter. */
  quotaUsed(key: string): Promise<number | null>;
  /**
   * Overwrites a quota counter's settled spend (reconciliation from PostgreSQL). Live reservations are kept, and
   * those booked before it no longer count as spent should they expire (see AdmitRequest.expiresAsSpent).
   */
  setQuotaUsed(key: string, used: number): Promise<void>;
  /** Adds to a counter that lives `windowMs` from its first hit; returns the new count (failure windows, metrics). */
  hit(key: string, windowMs: number, by?: number): Promise<number>;
  /** Keeps `value` under `key` for `ttlMs`, replacing what was there (which channel holds a stored response). */
  putValue(key: string, value: string, ttlMs: number): Promise<void>;
  /** What putValue kept under `key`; null if nothing was, or it expired. */
  getValue(key: string): Promise<string | null>;
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` for each message on `channel`, on every instance; returns an unsubscribe function. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  /** Throws when the store cannot be reached (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
