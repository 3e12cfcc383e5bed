/** auth_users queries for identity: the login lookup, lockout counters, the session's user, passwords. */
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { authUsers, tenantOrganizations, type UserRole } from '../db/schema/index.js';

/** tenant_organizations has no Row Level Security: login resolves the slug before any tenant is known. */
export async function findTenantBySlug(db: Db, slug: string): Promise<{ id: string; status: string } | null> {
  const t = tenantOrganizations;
  const [row] = await db.select({ id: t.id, status: t.status }).from(t).where(eq(t.slug, slug));
  return row ?? null;
}

export interface LoginUser {
  id: string;
  email: string;
  hashedPassword: string;
  role: UserRole;
  status: string;
  isActive: boolean;
  lockedUntil: Date | null;
  mfaEnabled: boolean;
}

/** Emails are stored lowercase; the comparison lowercases both sides for rows written otherwise. */
export async function findLoginUser(tx: Db, email: string): Promise<LoginUser | null> {
  const u = authUsers;
  const [row] = await tx
    .select({
      id: u.id,
      email: u.email,
      hashedPassword: u.hashedPassword,
      role: u.role,
      status: u.status,
      isActive: u.isActive,
      lockedUntil: u.lockedUntil,
      mfaEnabled: u.mfaEnabled,
    })
    .from(u)
    .where(eq(sql`lower(${u.email})`, email.toLowerCase()))
    .orderBy(sql`${u.email} = ${email} desc`, u.createdAt)
    .limit(1);
  return row ?? null;
}

/**
 * Counts a failed login in one statement (concurrent failures all count). The attempt that reaches `max`
 * locks the account for `lockMs` and starts the count again for after the lock.
 */
export async function recordLoginFailure(tx: Db, userId: string, max: number, lockMs: number): Promise<{ locked: boolean }> {
  const u = authUsers;
  const reaches = sql`${u.loginAttempts} + 1 >= ${max}`;
  const [row] = await tx
    .update(u)
    .set({
      loginAttempts: sql`case when ${reaches} then 0 else ${u.loginAttempts} + 1 end`,
      lockedUntil: sql`case when ${reaches} then now() + (${lockMs}::bigint * interval '1 millisecond') else ${u.lockedUntil} end`,
    })
    .where(eq(u.id, userId))
    .returning({ lockedUntil: u.lockedUntil });
  return { locked: !!row?.lockedUntil && row.lockedUntil.getTime() > Date.now() };
}

export async function recordLoginSuccess(tx: Db, userId: string): Promise<void> {
  const u = authUsers;
  await tx
    .update(u)
    .set({ loginAttempts: 0, lockedUntil: null, lastLoginAt: sql`now()` })
    .where(eq(u.id, userId))
    .returning({ id: u.id });
}

export interface SessionUser {
  id: string;
  email: string;
  role: UserRole;
  active: boolean;
  tenantStatus: string;
}

/** The user behind a session and their tenant's status (inside the tenant's transaction). */
export async function loadSessionUser(tx: Db, userId: string): Promise<SessionUser | null> {
  const u = authUsers;
  const t = tenantOrganizations;
  const [row] = await tx
    .select({ id: u.id, email: u.email, role: u.role, status: u.status, isActive: u.isActive, tenantStatus: t.status })
    .from(u)
    .innerJoin(t, eq(t.id, u.tenantId))
    .where(eq(u.id, userId));
  if (!row) return null;
  return { id: row.id, email: row.email, role: row.role, active: row.isActive && row.status === 'active', tenantStatus: row.tenantStatus };
}

export async function getPasswordHash(tx: Db, userId: string): Promise<string | null> {
  const u = authUsers;
  const [row] = await tx.select({ hashedPassword: u.hashedPassword }).from(u).where(eq(u.id, userId));
  return row?.hashedPassword ?? null;
}

export async function setPasswordHash(tx: Db, userId: string, hashedPassword: string): Promise<void> {
  const u = authUsers;
  await tx
    .update(u)
    .set({ hashedPassword, loginAttempts: 0, lockedUntil: null, updatedAt: sql`now()` })
    .where(eq(u.id, userId))
    .returning({ id: u.id });
}
