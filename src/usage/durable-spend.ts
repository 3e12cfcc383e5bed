/**
 * The durable spend behind a live quota counter: what PostgreSQL recorded (used_quota) plus the records this
 * instance has served but not written yet. Seeds a counter Redis lost, and reconciles the counters at start.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../db/client.js';
import { withTenant } from '../db/tenant.js';
import type { UsageRecorder } from './usage-recorder.js';
import { withTimeout } from '../with-timeout.js';

export type QuotaOwner = { tenantId: string; kind: 'token' | 'channel'; id: string };

// The quota keys of src/relay/booking.ts: `{tenantId}:q:t:<token id>` and `{tenantId}:q:c:<channel id>`.
const QUOTA_KEY = /^\{([0-9a-f-]{36})\}:q:([tc]):([0-9a-f-]{36})$/i;

export function parseQuotaKey(key: string): QuotaOwner | null {
  const m = QUOTA_KEY.exec(key);
  if (!m) return null;
  return { tenantId: m[1]!, kind: m[2] === 't' ? 'token' : 'channel', id: m[3]! };
}

export function quotaKeyOf(owner: QuotaOwner): string {
  return `{${owner.tenantId}}:q:${owner.kind === 'token' ? 't' : 'c'}:${owner.id}`;
}

/** Reads one key's durable spend, within `timeoutMs`; null when the key is not a quota key or its row is gone. */
export function durableSpend(db: Db, usage: UsageRecorder, timeoutMs = 2_000): (key: string) => Promise<number | null> {
  return async (key) => {
    const owner = parseQuotaKey(key);
    if (!owner) return null;
    // Counted before and after the read, keeping the larger: a record written while the read runs is then
    // counted at least once (twice at worst, which errs on the side of refusing).
    const before = usage.pendingCost(owner.kind, owner.id);
    const table = owner.kind === 'token' ? sql`provider_tokens` : sql`provider_channels`;
    const read = withTenant(db, owner.tenantId, (tx) =>
      queryRows<{ used: string | number }>(tx, sql`select used_quota as used from ${table} where id = ${owner.id}`),
    );
    const [row] = await withTimeout(read, timeoutMs, 'durable spend read timed out');
    if (!row) return null;
    return Number(row.used) + Math.max(before, usage.pendingCost(owner.kind, owner.id));
  };
}
