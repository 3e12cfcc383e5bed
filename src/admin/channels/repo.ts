/** provider_channels queries for the admin API (inside the tenant's transaction). */
import { and, asc, count, eq, ilike, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { providerChannels, providerTypes, type ApiFormat, type ConfigScope } from '../../db/schema/index.js';
import { bounds, likePattern, type PageQuery } from '../pagination.js';

const c = providerChannels;
const p = providerTypes;
const columns = {
  id: c.id,
  name: c.name,
  typeId: c.type,
  typeName: p.name,
  apiFormat: p.apiFormat,
  typeBaseUrl: p.baseUrl,
  baseUrl: c.baseUrl,
  key: c.key,
  models: c.models,
  modelMapping: c.modelMapping,
  priority: c.priority,
  weight: c.weight,
  status: c.status,
  statusReason: c.statusReason,
  statusChangedAt: c.statusChangedAt,
  quota: c.quota,
  usedQuota: c.usedQuota,
  rateLimit: c.rateLimit,
  scope: c.configScope,
  ownerId: c.ownerId,
  groupId: c.groupId,
  config: c.config,
  createdAt: c.createdAt,
  updatedAt: c.updatedAt,
};

export interface ChannelRow {
  id: string;
  name: string;
  typeId: number;
  typeName: string;
  apiFormat: ApiFormat;
  typeBaseUrl: string | null;
  baseUrl: string | null;
  /** Sealed (AES-256-GCM) provider key. */
  key: string;
  models: string[];
  modelMapping: Record<string, string>;
  priority: number;
  weight: number;
  status: number;
  statusReason: string | null;
  statusChangedAt: Date | null;
  quota: number;
  usedQuota: number;
  rateLimit: number;
  scope: ConfigScope;
  ownerId: string | null;
  groupId: string | null;
  config: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export interface ChannelFilter {
  scope?: ConfigScope;
  status?: number;
  ownerId?: string;
  groupId?: string;
  type?: string;
  q?: string;
}

function conditions(f: ChannelFilter): SQL | undefined {
  return and(
    f.scope ? eq(c.configScope, f.scope) : undefined,
    f.status !== undefined ? eq(c.status, f.status) : undefined,
    f.ownerId ? eq(c.ownerId, f.ownerId) : undefined,
    f.groupId ? eq(c.groupId, f.groupId) : undefined,
    f.type ? eq(p.name, f.type) : undefined,
    f.q ? ilike(c.name, likePattern(f.q)) : undefined,
  );
}

export async function listChannels(tx: Db, f: ChannelFilter, page: PageQuery): Promise<{ rows: ChannelRow[]; total: number }> {
  const where = conditions(f);
  const { limit, offset } = bounds(page);
  const rows = await tx
    .select(columns)
    .from(c)
    .innerJoin(p, eq(p.id, c.type))
    .where(where)
    .orderBy(asc(c.name), asc(c.id))
    .limit(limit)
    .offset(offset);
  const [total] = await tx.select({ n: count() }).from(c).innerJoin(p, eq(p.id, c.type)).where(where);
  return { rows, total: Number(total?.n ?? 0) };
}

/** One channel, optionally only if it also matches `f` (an end user's own personal channels). */
export async function getChannel(tx: Db, id: string, f: ChannelFilter = {}): Promise<ChannelRow | null> {
  const [row] = await tx
    .select(columns)
    .from(c)
    .innerJoin(p, eq(p.id, c.type))
    .where(and(eq(c.id, id), conditions(f)));
  return row ?? null;
}

export async function providerTypeByName(db: Db, name: string): Promise<{ id: number; name: string; baseUrl: string | null; apiFormat: ApiFormat } | null> {
  const [row] = await db.select({ id: p.id, name: p.name, baseUrl: p.baseUrl, apiFormat: p.apiFormat }).from(p).where(eq(p.name, name));
  return row ?? null;
}

export async function providerTypeNames(db: Db): Promise<string[]> {
  const rows = await db.select({ name: p.name }).from(p).orderBy(asc(p.id));
  return rows.map((r) => r.name);
}

export type ChannelInsert = typeof c.$inferInsert;

export async function insertChannel(tx: Db, v: ChannelInsert): Promise<{ id: string }> {
  const [row] = await tx.insert(c).values(v).returning({ id: c.id });
  return row!;
}

export async function updateChannel(tx: Db, id: string, v: Partial<ChannelInsert>): Promise<boolean> {
  const rows = await tx.update(c).set({ ...v, updatedAt: new Date() }).where(eq(c.id, id)).returning({ id: c.id });
  return rows.length === 1;
}

export async function deleteChannel(tx: Db, id: string): Promise<boolean> {
  const rows = await tx.delete(c).where(eq(c.id, id)).returning({ id: c.id });
  return rows.length === 1;
}
