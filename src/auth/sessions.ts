/**
 * Admin sessions: issuing a token pair, authenticating an access token, rotating on refresh (a reused
 * refresh token revokes its session) and logging out.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { withTenant } from '../db/tenant.js';
import { sha256Hex } from '../crypto/digest.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Actor } from './actor.js';
import { loadSessionUser } from './account-repo.js';
import { findRefreshSession, findSessionByDigest, insertSession, revokeSession, rotateSession } from './session-repo.js';
import { newAccessToken, newRefreshToken, refreshTokenSession, sameDigest } from './session-tokens.js';

export interface SessionDeps {
  db: Db;
  config: Pick<Config, 'LYSS_SESSION_TTL_MS' | 'LYSS_REFRESH_TTL_MS'>;
  logger: Logger;
}

export interface ClientMeta {
  ip: string | null;
  userAgent: string | null;
}

export interface TokenPair {
  session_id: string;
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  /** Seconds. */
  expires_in: number;
  refresh_expires_in: number;
}

function pair(deps: SessionDeps, sessionId: string, access: string, refresh: string): TokenPair {
  return {
    session_id: sessionId,
    access_token: access,
    refresh_token: refresh,
    token_type: 'Bearer',
    expires_in: Math.floor(deps.config.LYSS_SESSION_TTL_MS / 1000),
    refresh_expires_in: Math.floor(deps.config.LYSS_REFRESH_TTL_MS / 1000),
  };
}

/** Starts a session for a user whose credentials were just verified (inside their tenant's transaction). */
export async function issueSession(deps: SessionDeps, tx: Db, user: { id: string; tenantId: string }, meta: ClientMeta): Promise<TokenPair> {
  const id = randomUUID();
  const access = newAccessToken();
  const refresh = newRefreshToken(id);
  const now = Date.now();
  await insertSession(tx, {
    id,
    tenantId: user.tenantId,
    userId: user.id,
    sessionDigest: sha256Hex(access),
    refreshDigest: sha256Hex(refresh),
    expiresAt: new Date(now + deps.config.LYSS_SESSION_TTL_MS),
    refreshExpiresAt: new Date(now + deps.config.LYSS_REFRESH_TTL_MS),
    // inet rejects anything that is not an address; a proxy's odd header must not fail the login.
    ipAddress: meta.ip && isIP(meta.ip) ? meta.ip : null,
    userAgent: meta.userAgent ? meta.userAgent.slice(0, 500) : null,
  });
  return pair(deps, id, access, refresh);
}

const invalidSession = () => new GatewayError('invalid_session', 'The session token is missing, invalid, expired or revoked.');

/** The actor behind an access token, or a 401. */
export async function authenticateSession(deps: SessionDeps, token: string | null): Promise<Actor> {
  if (!token) throw new GatewayError('invalid_session', 'Authenticate with a session token: Authorization: Bearer <access_token> (POST /api/auth/login).');
  const session = await findSessionByDigest(deps.db, sha256Hex(token));
  if (!session || !session.isActive || session.expiresAt.getTime() <= Date.now()) throw invalidSession();
  const user = await withTenant(deps.db, session.tenantId, (tx) => loadSessionUser(tx, session.userId));
  if (!user || !user.active) throw invalidSession();
  // A super admin keeps access while their own tenant is suspended, so they can lift the suspension.
  if (user.tenantStatus !== 'active' && user.role !== 'super_admin') {
    throw new GatewayError('tenant_suspended', 'Your organization is not active.');
  }
  return { sessionId: session.id, userId: user.id, tenantId: session.tenantId, role: user.role, email: user.email };
}

/** Rotates both tokens. A refresh token of a session that is not its current one revokes the session. */
export async function refreshSession(deps: SessionDeps, token: string): Promise<TokenPair> {
  const sessionId = refreshTokenSession(token);
  if (!sessionId) throw invalidSession();
  const session = await findRefreshSession(deps.db, sessionId);
  if (!session || !session.isActive) throw invalidSession();
  const presented = sha256Hex(token);
  const reused = async () => {
    await withTenant(deps.db, session.tenantId, (tx) => revokeSession(tx, session.id));
    deps.logger.warn('admin session revoked: a rotated-out refresh token was presented again', { sessionId: session.id, userId: session.userId });
    return new GatewayError('refresh_token_reused', 'This refresh token was already used; the session has been revoked. Log in again.');
  };
  if (!sameDigest(presented, session.refreshToken)) throw await reused();
  if (session.refreshExpiresAt.getTime() <= Date.now()) throw invalidSession();

  const access = newAccessToken();
  const refresh = newRefreshToken(session.id);
  const now = Date.now();
  const outcome = await withTenant(deps.db, session.tenantId, async (tx) => {
    const user = await loadSessionUser(tx, session.userId);
    if (!user || !user.active || (user.tenantStatus !== 'active' && user.role !== 'super_admin')) return 'refused' as const;
    const rotated = await rotateSession(tx, session.id, presented, {
      sessionDigest: sha256Hex(access),
      refreshDigest: sha256Hex(refresh),
      expiresAt: new Date(now + deps.config.LYSS_SESSION_TTL_MS),
      refreshExpiresAt: new Date(now + deps.config.LYSS_REFRESH_TTL_MS),
    });
    return rotated ? ('rotated' as const) : ('lost' as const);
  });
  if (outcome === 'refused') throw invalidSession();
  // Another refresh with the same token won the race: the token was presented twice.
  if (outcome === 'lost') throw await reused();
  return pair(deps, session.id, access, refresh);
}

export async function logout(deps: SessionDeps, actor: Actor): Promise<void> {
  await withTenant(deps.db, actor.tenantId, (tx) => revokeSession(tx, actor.sessionId));
}
