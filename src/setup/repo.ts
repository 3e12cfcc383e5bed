/**
 * Lookups and row-level upserts for the declarative setup and the CLI. An upsert writes only the columns
 * whose value differs, so applying the same input twice leaves rows byte-identical (updated_at included).
 * Tenant-scoped functions must run inside a transaction acting for `tenantId` (withTenant / actForTenant).
 */
import { and, asc, eq, inArray, notInArray, or, sql } from 'drizzle-orm';
import { queryRows, type Db } from '../db/client.js';
import {
  authUsers,
  providerChannels,
  providerTokens,
  providerTypes,
  tenantOrganizations,
  tenantUserGroupMembers,
  tenantUserGroups,
  type ConfigScope,
  type TenantSettings,
  type UserRole,
} from '../db/schema/index.js';
import type { SecretBox } from '../crypto/secrets.js';
import { sha256Hex, tokenDisplayPrefix } from '../crypto/digest.js';
import { hashPassword, verifyPassword } from '../auth/password.js';
import { SetupConflict } from './setup-error.js';

export type Outcome = 'created' | 'updated' | 'unchanged';
export interface Upserted {
  id: string;
  outcome: Outcome;
}

/** Deep equality as jsonb sees it: object key order does not matter, array order does; Dates by instant. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** The fields of `desired` that differ from `current`. */
function changedFields<T extends object>(current: T, desired: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(desired) as (keyof T)[]) {
    if (!sameValue(current[key], desired[key])) out[key] = desired[key];
  }
  return out;
}

const isEmpty = (o: object) => Object.keys(o).length === 0;

// ---------------------------------------------------------------------------------------------- provider types

/** provider_types.name -> id (not tenant-scoped). */
export async function providerTypeIds(db: Db): Promise<Map<string, number>> {
  const rows = await db.select({ id: providerTypes.id, name: providerTypes.name }).from(providerTypes);
  return new Map(rows.map((r) => [r.name, r.id]));
}

// ---------------------------------------------------------------------------------------------------- tenants

export interface TenantValues {
  slug: string;
  name: string;
  maxUsers: number;
  settings: TenantSettings;
}

export async function findTenantId(db: Db, slug: string): Promise<string | null> {
  const [row] = await db.select({ id: tenantOrganizations.id }).from(tenantOrganizations).where(eq(tenantOrganizations.slug, slug));
  return row?.id ?? null;
}

export async function upsertTenant(db: Db, v: TenantValues): Promise<Upserted> {
  const t = tenantOrganizations;
  const [row] = await db.select({ id: t.id, name: t.name, maxUsers: t.maxUsers, settings: t.settings }).from(t).where(eq(t.slug, v.slug));
  if (!row) {
    const [created] = await db.insert(t).values(v).returning({ id: t.id });
    return { id: created!.id, outcome: 'created' };
  }
  const diff = changedFields(
    { name: row.name, maxUsers: row.maxUsers, settings: row.settings },
    { name: v.name, maxUsers: v.maxUsers, settings: v.settings },
  );
  if (isEmpty(diff)) return { id: row.id, outcome: 'unchanged' };
  await db.update(t).set({ ...diff, updatedAt: sql`now()` }).where(eq(t.id, row.id)).returning({ id: t.id });
  return { id: row.id, outcome: 'updated' };
}

// ------------------------------------------------------------------------------------------------------ users

export interface UserValues {
  /** Lowercase. */
  email: string;
  password: string;
  role: UserRole;
}

/** The user with this email in the tenant: an exact match first, else one differing only in case. */
async function findUser(db: Db, tenantId: string, email: string) {
  const u = authUsers;
  const [row] = await db
    .select({ id: u.id, email: u.email, hashedPassword: u.hashedPassword, role: u.role })
    .from(u)
    .where(and(eq(u.tenantId, tenantId), or(eq(u.email, email), eq(sql`lower(${u.email})`, email.toLowerCase()))))
    .orderBy(sql`${u.email} = ${email} desc`, asc(u.createdAt))
    .limit(1);
  return row ?? null;
}

export async function findUserId(db: Db, tenantId: string, email: string): Promise<string | null> {
  return (await findUser(db, tenantId, email))?.id ?? null;
}

/** Users holding a seat: active ones, as the admin API counts them against max_users. */
export async function countActiveUsers(db: Db, tenantId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(authUsers)
    .where(and(eq(authUsers.tenantId, tenantId), eq(authUsers.status, 'active')));
  return Number(row?.n ?? 0);
}

/** Rehashes the password only when the stored hash does not already verify it (a new salt would change the row). */
export async function upsertUser(db: Db, tenantId: string, v: UserValues): Promise<Upserted> {
  const u = authUsers;
  const row = await findUser(db, tenantId, v.email);
  if (!row) {
    const [created] = await db
      .insert(u)
      .values({ tenantId, email: v.email, hashedPassword: await hashPassword(v.password), role: v.role })
      .returning({ id: u.id });
    return { id: created!.id, outcome: 'created' };
  }
  const diff: Partial<typeof u.$inferInsert> = changedFields({ email: row.email, role: row.role }, { email: v.email, role: v.role });
  if (!(await verifyPassword(v.password, row.hashedPassword))) diff.hashedPassword = await hashPassword(v.password);
  if (isEmpty(diff)) return { id: row.id, outcome: 'unchanged' };
  await db.update(u).set({ ...diff, updatedAt: sql`now()` }).where(eq(u.id, row.id)).returning({ id: u.id });
  return { id: row.id, outcome: 'updated' };
}

// ----------------------------------------------------------------------------------------------------- groups

export async function findGroupId(db: Db, tenantId: string, name: string): Promise<string | null> {
  const g = tenantUserGroups;
  const [row] = await db.select({ id: g.id }).from(g).where(and(eq(g.tenantId, tenantId), eq(g.name, name)));
  return row?.id ?? null;
}

/** A group has nothing but its name in the file, so it is either created or unchanged. */
export async function upsertGroup(db: Db, tenantId: string, name: string): Promise<Upserted> {
  const existing = await findGroupId(db, tenantId, name);
  if (existing) return { id: existing, outcome: 'unchanged' };
  const g = tenantUserGroups;
  const [created] = await db.insert(g).values({ tenantId, name }).returning({ id: g.id });
  return { id: created!.id, outcome: 'created' };
}

/** Makes the group's members exactly `userIds`: adds the missing, removes the others. */
export async function syncGroupMembers(
  db: Db,
  tenantId: string,
  groupId: string,
  userIds: string[],
): Promise<{ added: number; removed: number }> {
  const m = tenantUserGroupMembers;
  const current = await db.select({ userId: m.userId }).from(m).where(and(eq(m.tenantId, tenantId), eq(m.groupId, groupId)));
  const have = new Set(current.map((r) => r.userId));
  const missing = [...new Set(userIds)].filter((id) => !have.has(id));
  if (missing.length > 0) {
    await db.insert(m).values(missing.map((userId) => ({ tenantId, groupId, userId }))).returning({ id: m.id });
  }
  const extra = current.filter((r) => !userIds.includes(r.userId));
  if (extra.length > 0) {
    const keep = userIds.length > 0 ? notInArray(m.userId, userIds) : undefined;
    await db
      .delete(m)
      .where(and(eq(m.tenantId, tenantId), eq(m.groupId, groupId), keep))
      .returning({ id: m.id });
  }
  return { added: missing.length, removed: extra.length };
}

// --------------------------------------------------------------------------------------------------- channels

export interface ChannelValues {
  name: string;
  type: number;
  /** Plaintext; sealed before it is stored. */
  key: string;
  models: string[];
  modelMapping: Record<string, string>;
  priority: number;
  weight: number;
  rateLimit: number;
  quota: number;
  configScope: ConfigScope;
  ownerId: string | null;
  groupId: string | null;
  baseUrl: string | null;
  config: Record<string, unknown>;
}

export async function findChannelId(db: Db, tenantId: string, name: string): Promise<string | null> {
  const c = providerChannels;
  const [row] = await db.select({ id: c.id }).from(c).where(and(eq(c.tenantId, tenantId), eq(c.name, name)));
  return row?.id ?? null;
}

/** Channel ids by name, for the names that exist in the tenant. */
export async function channelIdsByName(db: Db, tenantId: string, names: string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const c = providerChannels;
  const rows = await db.select({ id: c.id, name: c.name }).from(c).where(and(eq(c.tenantId, tenantId), inArray(c.name, names)));
  return new Map(rows.map((r) => [r.name, r.id]));
}

/** True when `sealed` opens to `plaintext` under the current key version, so resealing would only churn the row. */
function sealedMatches(secrets: SecretBox, sealed: string, plaintext: string): boolean {
  const version = /^v(\d+):/.exec(sealed)?.[1];
  if (Number(version) !== secrets.currentVersion) return false;
  try {
    return secrets.open(sealed) === plaintext;
  } catch {
    return false;
  }
}

/**
 * Status, status reason and used quota are runtime state (health checks, spending): an upsert never touches
 * them. The key is resealed only when it changed or was sealed under an older master key.
 */
export async function upsertChannel(db: Db, tenantId: string, v: ChannelValues, secrets: SecretBox): Promise<Upserted> {
  const c = providerChannels;
  const [row] = await db
    .select({
      id: c.id,
      type: c.type,
      key: c.key,
      models: c.models,
      modelMapping: c.modelMapping,
      priority: c.priority,
      weight: c.weight,
      rateLimit: c.rateLimit,
      quota: c.quota,
      configScope: c.configScope,
      ownerId: c.ownerId,
      groupId: c.groupId,
      baseUrl: c.baseUrl,
      config: c.config,
    })
    .from(c)
    .where(and(eq(c.tenantId, tenantId), eq(c.name, v.name)));
  const { key, ...rest } = v;
  if (!row) {
    const [created] = await db
      .insert(c)
      .values({ tenantId, ...rest, key: secrets.seal(key) })
      .returning({ id: c.id });
    return { id: created!.id, outcome: 'created' };
  }
  const { id, key: sealed, ...current } = row;
  const diff: Partial<typeof c.$inferInsert> = changedFields({ name: v.name, ...current }, rest);
  if (!sealedMatches(secrets, sealed, key)) diff.key = secrets.seal(key);
  if (isEmpty(diff)) return { id, outcome: 'unchanged' };
  await db.update(c).set({ ...diff, updatedAt: sql`now()` }).where(eq(c.id, id)).returning({ id: c.id });
  return { id, outcome: 'updated' };
}

// ----------------------------------------------------------------------------------------------------- tokens

export interface TokenValues {
  name: string;
  userId: string;
  /** Plaintext; only its digest and display prefix are stored. */
  key: string;
  allowedModels: string[];
  /** Channel ids. */
  allowedChannels: string[];
  quota: number;
  rateLimit: number;
  expiresAt: Date | null;
}

/** Tokens of a user with a given name (names are not unique in the table). */
export async function findTokenIds(db: Db, tenantId: string, userId: string, name: string): Promise<string[]> {
  const k = providerTokens;
  const rows = await db
    .select({ id: k.id })
    .from(k)
    .where(and(eq(k.tenantId, tenantId), eq(k.userId, userId), eq(k.name, name)))
    .orderBy(asc(k.createdAt));
  return rows.map((r) => r.id);
}

/**
 * Finds the token by its digest (same key: rename, move or reconfigure it), else by user and name (a new key:
 * rotate it). Status, used quota and last use are runtime state and never touched.
 */
export async function upsertToken(db: Db, tenantId: string, v: TokenValues): Promise<Upserted> {
  const k = providerTokens;
  const digest = sha256Hex(v.key);
  // Digests are unique across tenants; lyss_find_token sees past Row Level Security to report the clash clearly.
  const [holder] = await queryRows<{ id: string; tenant_id: string }>(db, sql`select id, tenant_id from lyss_find_token(${digest})`);
  if (holder && holder.tenant_id !== tenantId) throw new SetupConflict('this key is already used by a token of another tenant');
  let id = holder?.id;
  if (!id) {
    const byName = await findTokenIds(db, tenantId, v.userId, v.name);
    if (byName.length > 1) throw new SetupConflict(`${byName.length} tokens of this user are named "${v.name}"; rename or delete all but one`);
    id = byName[0];
  }
  const desired = {
    name: v.name,
    userId: v.userId,
    key: digest,
    keyPrefix: tokenDisplayPrefix(v.key),
    allowedModels: v.allowedModels,
    allowedChannels: v.allowedChannels,
    quota: v.quota,
    rateLimit: v.rateLimit,
    expiresAt: v.expiresAt,
  };
  if (!id) {
    const [created] = await db.insert(k).values({ tenantId, ...desired }).returning({ id: k.id });
    return { id: created!.id, outcome: 'created' };
  }
  const [row] = await db
    .select({
      name: k.name,
      userId: k.userId,
      key: k.key,
      keyPrefix: k.keyPrefix,
      allowedModels: k.allowedModels,
      allowedChannels: k.allowedChannels,
      quota: k.quota,
      rateLimit: k.rateLimit,
      expiresAt: k.expiresAt,
    })
    .from(k)
    .where(eq(k.id, id));
  const diff = changedFields(row!, desired);
  if (isEmpty(diff)) return { id, outcome: 'unchanged' };
  await db.update(k).set({ ...diff, updatedAt: sql`now()` }).where(eq(k.id, id)).returning({ id: k.id });
  return { id, outcome: 'updated' };
}
