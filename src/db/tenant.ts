/** Units of work scoped to one tenant: Row Level Security reads the tenant from a transaction-local setting. */
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';

/** Runs `work` in a transaction that sees and writes only `tenantId`'s rows. */
export function withTenant<T>(db: Db, tenantId: string, work: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('lyss.tenant_id', ${tenantId}, true)`);
    return work(tx as unknown as Db);
  });
}

/** Inside an open transaction, switches the tenant the following statements act for (batch writers). */
export async function actForTenant(tx: Db, tenantId: string): Promise<void> {
  await tx.execute(sql`select set_config('lyss.tenant_id', ${tenantId}, true)`);
}
