/** A signed-in user changes their own password: the current one is required, other sessions end. */
import { withTenant } from '../db/tenant.js';
import { GatewayError } from '../errors.js';
import type { Actor } from './actor.js';
import { getPasswordHash, recordLoginFailure, setPasswordHash } from './account-repo.js';
import { hashPassword, verifyPassword } from './password.js';
import { revokeUserSessions } from './session-repo.js';
import type { LoginDeps } from './login.js';

export async function changePassword(deps: LoginDeps, actor: Actor, current: string, next: string): Promise<{ revoked_sessions: number }> {
  const stored = await withTenant(deps.db, actor.tenantId, (tx) => getPasswordHash(tx, actor.userId));
  if (!stored || !(await verifyPassword(current, stored))) {
    // Counted like a failed login: a stolen session must not become a way to guess the password.
    await withTenant(deps.db, actor.tenantId, (tx) => recordLoginFailure(tx, actor.userId, deps.config.LYSS_LOGIN_MAX_ATTEMPTS, deps.config.LYSS_LOGIN_LOCK_MS));
    throw new GatewayError('invalid_request_error', 'current_password: is incorrect', { param: 'current_password' });
  }
  if (current === next) {
    throw new GatewayError('invalid_request_error', 'new_password: must differ from the current password', { param: 'new_password' });
  }
  const hashed = await hashPassword(next);
  return withTenant(deps.db, actor.tenantId, async (tx) => {
    await setPasswordHash(tx, actor.userId, hashed);
    return { revoked_sessions: await revokeUserSessions(tx, actor.userId, actor.sessionId) };
  });
}
