/** Full dumps of the tables the setup writes, each row as PostgreSQL's own jsonb text, for byte-level comparison. */
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../../src/db/client.js';
import { withTenant } from '../../../src/db/tenant.js';

export const TENANT_TABLES = [
  'auth_users',
  'tenant_user_groups',
  'tenant_user_group_members',
  'provider_channels',
  'provider_tokens',
] as const;

export interface Dump {
  tenant_organizations: string[];
  /** Per tenant id, per table: rows as jsonb text, ordered by id. */
  tenants: Record<string, Record<string, string[]>>;
}

async function rows(db: Db, table: string): Promise<string[]> {
  const result = await queryRows<{ row: string }>(db, sql.raw(`select to_jsonb(t)::text as row from ${table} t order by id`));
  return result.map((r) => r.row);
}

/** Row Level Security hides other tenants' rows, so tenant tables are read once per tenant, inside its scope. */
export async function dumpDatabase(db: Db): Promise<Dump> {
  const tenants = await queryRows<{ id: string }>(db, sql`select id from tenant_organizations order by id`);
  const dump: Dump = { tenant_organizations: await rows(db, 'tenant_organizations'), tenants: {} };
  for (const { id } of tenants) {
    dump.tenants[id] = await withTenant(db, id, async (tx) => {
      const out: Record<string, string[]> = {};
      for (const table of TENANT_TABLES) out[table] = await rows(tx, table);
      return out;
    });
  }
  return dump;
}

/** Every row of every table above, for tenant `id`, as parsed objects. */
export async function tenantRows(db: Db, tenantId: string, table: (typeof TENANT_TABLES)[number]): Promise<Record<string, unknown>[]> {
  return withTenant(db, tenantId, async (tx) => (await rows(tx, table)).map((r) => JSON.parse(r) as Record<string, unknown>));
}
