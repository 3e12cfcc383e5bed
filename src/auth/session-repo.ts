/**
 * auth_user_sessions queries. The two lookups by secret cross tenants through SECURITY DEFINER functions
 * (drizzle/0005_admin_sessions.sql); every write runs inside the session's tenant transaction.
 */
import { and, eq, lt, ne, sql } from 'drizzle-orm';
import { queryRows, type Db } from '../db/client.js';
import { authUserSessions } from '../db/schema/index.js';

export interface SessionRow {
  id: string;
  tenantId: string;
  userId: string;
  expiresAt: Date;
  isActive: boolean;
}

export interface RefreshSessionRow {
  id: string;
  tenantId: string;
  userId: string;
  /** Digest of the current refresh token. */
  refreshToken: string;
  refreshExpiresAt: Date;
  isActive: boolean;
}

interface RawSession {
  id: string;
  tenant_id: string;
  user_id: string;
  expires_at: string | Date;
  is_active: boolean;
}

interface RawRefreshSession {
  id: string;
  tenant_id: string;
  user_id: string;
  refresh_token: string;
  refresh_expires_at: string | Date;
  is_active: boolean;
}

/** The session whose access token has this digest, in any tenant. */
export async function findSessionByDigest(db: Db, digest: string): Promise<SessionRow | null> {
  const [row] = await queryRows<RawSession>(db, sql`select id, tenant_id, user_id, expires_at, is_active from lyss_find_session(${digest})`);
  if (!row) return null;
  return { id: row.id, tenantId: row.tenant_id, userId: row.user_id, expiresAt: new Date(row.expires_at), isActive: row.is_active };
}

/** The session a refresh token names, in any tenant. */
export async function findRefreshSession(db: Db, sessionId: string): Promise<RefreshSessionRow | null> {
  const [row] = await queryRows<RawRefreshSession>(
    db,
    sql`select id, tenant_id, user_id, refresh_token, refresh_expires_at, is_active from lyss_find_refresh_session(${sessionId}::uuid)`,
  );
  if (!row) return null;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    refreshToken: row.refresh_token,
    refreshExpiresAt: new Date(row.refresh_expires_at),
    isActive: row.is_active,
  };
}

export interface NewSession {
  id: string;
  tenantId: string;
  userId: string;
  sessionDigest: string;
  refreshDigest: string;
  expiresAt: Date;
  refreshExpiresAt: Date;
  ipAddress: string | null;
  userAgent: string | null;
}

export async function insertSession(tx: Db, s: NewSession): Promise<{ id: string }> {
  const t = authUserSessions;
  const [row] = await tx
    .insert(t)
    .values({
      id: s.id,
      tenantId: s.tenantId,
      userId: s.userId,
      sessionToken: s.sessionDigest,
      refreshToken: s.refreshDigest,
      expiresAt: s.expiresAt,
      refreshExpiresAt: s.refreshExpiresAt,
      ipAddress: s.ipAddress,
      userAgent: s.userAgent,
    })
    .returning({ id: t.id });
  return row!;
}

/**
 * Replaces both tokens, but only while `oldRefreshDigest` is still current and the session active: of two
 * concurrent refreshes with one token, exactly one rotates; the other sees false (and is treated as reuse).
 */
export async function rotateSession(
  tx: Db,
  id: string,
  oldRefreshDigest: string,
  next: { sessionDigest: string; refreshDigest: string; expiresAt: Date; refreshExpiresAt: Date },
): Promise<boolean> {
  const t = authUserSessions;
  const rows = await tx
    .update(t)
    .set({
      sessionToken: next.sessionDigest,
      refreshToken: next.refreshDigest,
      expiresAt: next.expiresAt,
      refreshExpiresAt: next.refreshExpiresAt,
      updatedAt: sql`now()`,
    })
    .where(and(eq(t.id, id), eq(t.refreshToken, oldRefreshDigest), eq(t.isActive, true)))
    .returning({ id: t.id });
  return rows.length === 1;
}

export async function revokeSession(tx: Db, id: string): Promise<void> {
  const t = authUserSessions;
  await tx.update(t).set({ isActive: false, updatedAt: sql`now()` }).where(and(eq(t.id, id), eq(t.isActive, true))).returning({ id: t.id });
}

/** Ends every session of a user (deactivation, password change), except `keep` when given. */
export async function revokeUserSessions(tx: Db, userId: string, keep?: string): Promise<number> {
  const t = authUserSessions;
  const rows = await tx
    .update(t)
    .set({ isActive: false, updatedAt: sql`now()` })
    .where(and(eq(t.userId, userId), eq(t.isActive, true), keep ? ne(t.id, keep) : undefined))
    .returning({ id: t.id });
  return rows.length;
}

/** Housekeeping at login: a user's sessions whose refresh token has expired are of no further use. */
export async function purgeExpiredSessions(tx: Db, userId: string): Promise<void> {
  const t = authUserSessions;
  await tx.delete(t).where(and(eq(t.userId, userId), lt(t.refreshExpiresAt, sql`now()`))).returning({ id: t.id });
}
