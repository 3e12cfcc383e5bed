/** provider_tokens queries for the admin API (inside the tenant's transaction). Never selects the digest. */
import { and, asc, count, eq, gt, ilike, isNull, lte, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { providerTokens, TokenStatus } from '../../db/schema/index.js';
import { bounds, iso, likePattern, type PageQuery } from '../pagination.js';
import type { TokenJson } from './schemas.js';

const k = providerTokens;
const columns = {
  id: k.id,
  name: k.name,
  userId: k.userId,
  keyPrefix: k.keyPrefix,
  allowedModels: k.allowedModels,
  allowedChannels: k.allowedChannels,
  quota: k.quota,
  usedQuota: k.usedQuota,
  rateLimit: k.rateLimit,
  status: k.status,
  expiresAt: k.expiresAt,
  lastUsedAt: k.lastUsedAt,
  createdAt: k.createdAt,
  updatedAt: k.updatedAt,
};

export interface TokenRow {
  id: string;
  name: string;
  userId: string;
  keyPrefix: string;
  allowedModels: string[];
  allowedChannels: string[];
  quota: number;
  usedQuota: number;
  rateLimit: number;
  status: number;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const statusNames: Record<number, TokenJson['status']> = { 1: 'enabled', 2: 'disabled', 3: 'expired' };

/**
 * Nothing writes `expired` when a token's expires_at passes (the relay refuses it by the date), so an enabled token
 * past its date is shown, and filtered, as expired; a disabled one stays disabled.
 */
function statusOf(r: Pick<TokenRow, 'status' | 'expiresAt'>, now = Date.now()): TokenJson['status'] {
  if (r.status === TokenStatus.enabled && r.expiresAt !== null && r.expiresAt.getTime() <= now) return 'expired';
  return statusNames[r.status] ?? 'disabled';
}

function statusCondition(status: number): SQL | undefined {
  const past = and(eq(k.status, TokenStatus.enabled), lte(k.expiresAt, sql`now()`));
  if (status === TokenStatus.expired) return or(eq(k.status, TokenStatus.expired), past);
  if (status === TokenStatus.enabled) return and(eq(k.status, TokenStatus.enabled), or(isNull(k.expiresAt), gt(k.expiresAt, sql`now()`)));
  return eq(k.status, status);
}

export function tokenJson(r: TokenRow): TokenJson {
  return {
    id: r.id,
    name: r.name,
    user_id: r.userId,
    key_prefix: r.keyPrefix,
    allowed_models: r.allowedModels,
    allowed_channels: r.allowedChannels,
    quota: r.quota,
    used_quota: r.usedQuota,
    rate_limit: r.rateLimit,
    status: statusOf(r),
    expires_at: iso(r.expiresAt),
    last_used_at: iso(r.lastUsedAt),
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export interface TokenFilter {
  userId?: string;
  status?: number;
  q?: string;
}

function conditions(f: TokenFilter): SQL | undefined {
  return and(
    f.userId ? eq(k.userId, f.userId) : undefined,
    f.status !== undefined ? statusCondition(f.status) : undefined,
    f.q ? ilike(k.name, likePattern(f.q)) : undefined,
  );
}

export async function listTokens(tx: Db, f: TokenFilter, page: PageQuery): Promise<{ rows: TokenRow[]; total: number }> {
  const where = conditions(f);
  const { limit, offset } = bounds(page);
  const rows = await tx.select(columns).from(k).where(where).orderBy(asc(k.createdAt), asc(k.id)).limit(limit).offset(offset);
  const [total] = await tx.select({ n: count() }).from(k).where(where);
  return { rows, total: Number(total?.n ?? 0) };
}

export async function getToken(tx: Db, id: string, f: TokenFilter = {}): Promise<TokenRow | null> {
  const [row] = await tx.select(columns).from(k).where(and(eq(k.id, id), conditions(f)));
  return row ?? null;
}

export async function tokenNameTaken(tx: Db, userId: string, name: string, exceptId?: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: k.id })
    .from(k)
    .where(and(eq(k.userId, userId), eq(k.name, name), exceptId ? ne(k.id, exceptId) : undefined))
    .limit(1);
  return row !== undefined;
}

export type TokenInsert = typeof k.$inferInsert;

export async function insertToken(tx: Db, v: TokenInsert): Promise<TokenRow> {
  const [row] = await tx.insert(k).values(v).returning(columns);
  return row!;
}

export async function updateToken(tx: Db, id: string, v: Partial<TokenInsert>): Promise<TokenRow | null> {
  const [row] = await tx.update(k).set({ ...v, updatedAt: new Date() }).where(eq(k.id, id)).returning(columns);
  return row ?? null;
}

export async function deleteToken(tx: Db, id: string): Promise<boolean> {
  const rows = await tx.delete(k).where(eq(k.id, id)).returning({ id: k.id });
  return rows.length === 1;
}
