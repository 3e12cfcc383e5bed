/**
 * design.md §4: on start, the live quota counters are set from PostgreSQL's durable record. A crash leaves
 * Redis counting spend whose usage records were never written (settled, not yet flushed), and a Redis that
 * missed settles counts too little; either way PostgreSQL is what was recorded, so it wins. Reservations are
 * left alone: those of a crashed process expire after LYSS_RESERVATION_TTL_MS.
 *
 * main.ts runs it before serving: in the single process, or in the cluster primary before it forks workers
 * (a worker restarted after a crash does not: its siblings are serving). An instance that is serving may have
 * settled spend it has not written yet, which the overwrite forgets: an instance started while others serve
 * (a rolling restart of separate instances) undercounts by their last LYSS_USAGE_FLUSH_MS of spend. Their
 * leases err the other way: a quota lease's units are a reservation, which the overwrite keeps, and a lease or
 * tally adds its whole spend when it ends, part of which PostgreSQL already had (README, "Quota and limits").
 * The leases of a crashed process expire as nothing after the overwrite (their spend is in PostgreSQL).
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../db/client.js';
import { withTenant } from '../db/tenant.js';
import type { LimitStore } from '../store/limit-store.js';
import { quotaKeyOf, type QuotaOwner } from './durable-spend.js';

export interface ReconcileSummary {
  tokens: number;
  channels: number;
}

/** `pending` adds what this process holds but has not written (replayed spill records). */
export async function reconcileQuotaCounters(
  db: Db,
  store: LimitStore,
  pending: (kind: 'token' | 'channel', id: string) => number = () => 0,
): Promise<ReconcileSummary> {
  const tenants = await queryRows<{ id: string }>(db, sql`select id from tenant_organizations`);
  const summary: ReconcileSummary = { tokens: 0, channels: 0 };
  for (const { id: tenantId } of tenants) {
    const rows = await withTenant(db, tenantId, async (tx) => [
      ...(await queryRows<{ id: string; used: string | number }>(tx, sql`select id, used_quota as used from provider_tokens`)).map((r) => ({ ...r, kind: 'token' as const })),
      ...(await queryRows<{ id: string; used: string | number }>(tx, sql`select id, used_quota as used from provider_channels`)).map((r) => ({ ...r, kind: 'channel' as const })),
    ]);
    for (let i = 0; i < rows.length; i += 200) {
      await Promise.all(
        rows.slice(i, i + 200).map(async (r) => {
          const owner: QuotaOwner = { tenantId, kind: r.kind, id: r.id };
          await store.setQuotaUsed(quotaKeyOf(owner), Number(r.used) + pending(r.kind, r.id));
        }),
      );
    }
    summary.tokens += rows.filter((r) => r.kind === 'token').length;
    summary.channels += rows.filter((r) => r.kind === 'channel').length;
  }
  return summary;
}
