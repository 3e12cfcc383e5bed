/** tenant_organizations queries (the table has no Row Level Security: only super admins reach these). */
import { and, asc, count, eq, ilike, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { authUsers, tenantOrganizations, type TenantSettings } from '../../db/schema/index.js';
import { bounds, likePattern, type PageQuery } from '../pagination.js';
import type { TenantJson } from './schemas.js';

const t = tenantOrganizations;
const columns = {
  id: t.id,
  slug: t.slug,
  name: t.name,
  status: t.status,
  subscriptionPlan: t.subscriptionPlan,
  maxUsers: t.maxUsers,
  settings: t.settings,
  createdAt: t.createdAt,
  updatedAt: t.updatedAt,
};

export interface TenantRow {
  id: string;
  slug: string;
  name: string;
  status: string;
  subscriptionPlan: string;
  maxUsers: number;
  settings: TenantSettings;
  createdAt: Date;
  updatedAt: Date;
}

export function tenantJson(r: TenantRow): TenantJson {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    status: r.status as TenantJson['status'],
    subscription_plan: r.subscriptionPlan,
    max_users: r.maxUsers,
    settings: r.settings,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export async function listTenants(db: Db, f: { status?: string; q?: string }, page: PageQuery): Promise<{ rows: TenantRow[]; total: number }> {
  const conditions: (SQL | undefined)[] = [
    f.status ? eq(t.status, f.status) : undefined,
    f.q ? or(ilike(t.slug, likePattern(f.q)), ilike(t.name, likePattern(f.q))) : undefined,
  ];
  const where = and(...conditions);
  const { limit, offset } = bounds(page);
  const rows = await db.select(columns).from(t).where(where).orderBy(asc(t.createdAt), asc(t.id)).limit(limit).offset(offset);
  const [total] = await db.select({ n: count() }).from(t).where(where);
  return { rows, total: Number(total?.n ?? 0) };
}

export async function getTenant(db: Db, id: string): Promise<TenantRow | null> {
  const [row] = await db.select(columns).from(t).where(eq(t.id, id));
  return row ?? null;
}

export async function insertTenant(
  db: Db,
  v: { slug: string; name: string; subscriptionPlan: string; maxUsers: number; settings: TenantSettings },
): Promise<TenantRow> {
  const [row] = await db.insert(t).values(v).returning(columns);
  return row!;
}

export async function updateTenant(
  db: Db,
  id: string,
  v: { name?: string; subscriptionPlan?: string; maxUsers?: number; settings?: TenantSettings; status?: string },
): Promise<TenantRow | null> {
  const [row] = await db
    .update(t)
    .set({ ...v, updatedAt: sql`now()` })
    .where(eq(t.id, id))
    .returning(columns);
  return row ?? null;
}

/** Active users of the tenant whose transaction this runs in. */
export async function countActiveUsers(tx: Db): Promise<number> {
  const [row] = await tx.select({ n: count() }).from(authUsers).where(eq(authUsers.status, 'active'));
  return Number(row?.n ?? 0);
}
