/**
 * Admin session tokens. Both are random and shown once; only their SHA-256 digests are stored. A refresh
 * token names its session (`lyss_rt_<session id>.<secret>`), so presenting one that is no longer the
 * session's current refresh token is recognised as reuse (a stolen, rotated-out token) and revokes it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

const ACCESS_PREFIX = 'lyss_at_';
const REFRESH_PREFIX = 'lyss_rt_';
const SECRET_BYTES = 32;
const REFRESH_PATTERN = /^lyss_rt_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[A-Za-z0-9_-]{43}$/;

export function newAccessToken(): string {
  return ACCESS_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
}

export function newRefreshToken(sessionId: string): string {
  return `${REFRESH_PREFIX}${sessionId}.${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

/** The session a refresh token names, or null when it is not one of ours. */
export function refreshTokenSession(token: string): string | null {
  return REFRESH_PATTERN.exec(token)?.[1] ?? null;
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
