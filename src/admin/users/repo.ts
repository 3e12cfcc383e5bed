/** auth_users queries for the admin API (inside the tenant's transaction). */
import { and, asc, count, eq, ilike, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { authUsers, tenantOrganizations, type UserRole } from '../../db/schema/index.js';
import { bounds, iso, likePattern, type PageQuery } from '../pagination.js';
import type { UserJson } from './schemas.js';

const u = authUsers;
const columns = {
  id: u.id,
  email: u.email,
  username: u.username,
  firstName: u.firstName,
  lastName: u.lastName,
  fullName: u.fullName,
  avatarUrl: u.avatarUrl,
  role: u.role,
  status: u.status,
  emailVerified: u.emailVerified,
  mfaEnabled: u.mfaEnabled,
  lastLoginAt: u.lastLoginAt,
  lockedUntil: u.lockedUntil,
  createdAt: u.createdAt,
  updatedAt: u.updatedAt,
};

export interface UserRow {
  id: string;
  email: string;
  username: string | null;
  firstName: string | null;
  lastName: string | null;
  fullName: string | null;
  avatarUrl: string | null;
  role: UserRole;
  status: string;
  emailVerified: boolean;
  mfaEnabled: boolean;
  lastLoginAt: Date | null;
  lockedUntil: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function userJson(r: UserRow): UserJson {
  return {
    id: r.id,
    email: r.email,
    username: r.username,
    first_name: r.firstName,
    last_name: r.lastName,
    full_name: r.fullName,
    avatar_url: r.avatarUrl,
    role: r.role,
    status: r.status,
    email_verified: r.emailVerified,
    mfa_enabled: r.mfaEnabled,
    last_login_at: iso(r.lastLoginAt),
    // A lock in the past no longer applies.
    locked_until: r.lockedUntil && r.lockedUntil.getTime() > Date.now() ? r.lockedUntil.toISOString() : null,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export interface UserFilter {
  role?: UserRole;
  status?: string;
  q?: string;
}

export async function listUsers(tx: Db, f: UserFilter, page: PageQuery): Promise<{ rows: UserRow[]; total: number }> {
  const conditions: (SQL | undefined)[] = [
    f.role ? eq(u.role, f.role) : undefined,
    f.status ? eq(u.status, f.status) : undefined,
    f.q ? or(ilike(u.email, likePattern(f.q)), ilike(u.username, likePattern(f.q)), ilike(u.fullName, likePattern(f.q))) : undefined,
  ];
  const where = and(...conditions);
  const { limit, offset } = bounds(page);
  const rows = await tx.select(columns).from(u).where(where).orderBy(asc(u.createdAt), asc(u.id)).limit(limit).offset(offset);
  const [total] = await tx.select({ n: count() }).from(u).where(where);
  return { rows, total: Number(total?.n ?? 0) };
}

export async function getUser(tx: Db, id: string): Promise<UserRow | null> {
  const [row] = await tx.select(columns).from(u).where(eq(u.id, id));
  return row ?? null;
}

/** True when another user of the tenant has this email, in any letter case. */
export async function emailTaken(tx: Db, email: string, exceptId?: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: u.id })
    .from(u)
    .where(and(eq(sql`lower(${u.email})`, email.toLowerCase()), exceptId ? ne(u.id, exceptId) : undefined))
    .limit(1);
  return row !== undefined;
}

export interface UserWrite {
  email?: string;
  hashedPassword?: string;
  role?: UserRole;
  status?: string;
  username?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  fullName?: string | null;
  avatarUrl?: string | null;
}

export async function insertUser(tx: Db, tenantId: string, v: UserWrite & { email: string; hashedPassword: string }): Promise<UserRow> {
  const [row] = await tx
    .insert(u)
    .values({ tenantId, ...v, isActive: (v.status ?? 'active') === 'active' })
    .returning(columns);
  return row!;
}

export async function updateUser(tx: Db, id: string, v: UserWrite & { loginAttempts?: number; lockedUntil?: Date | null }): Promise<UserRow | null> {
  const status = v.status === undefined ? {} : { isActive: v.status === 'active' };
  const [row] = await tx
    .update(u)
    .set({ ...v, ...status, updatedAt: sql`now()` })
    .where(eq(u.id, id))
    .returning(columns);
  return row ?? null;
}

/**
 * Locks the tenant row for the rest of the transaction and returns max_users with the count of active users:
 * two admins adding users at once are serialised, so max_users holds exactly.
 */
export async function lockSeats(tx: Db, tenantId: string): Promise<{ maxUsers: number; active: number }> {
  const t = tenantOrganizations;
  const [tenant] = await tx.select({ maxUsers: t.maxUsers }).from(t).where(eq(t.id, tenantId)).for('update');
  const [active] = await tx.select({ n: count() }).from(u).where(eq(u.status, 'active'));
  return { maxUsers: tenant?.maxUsers ?? 0, active: Number(active?.n ?? 0) };
}
