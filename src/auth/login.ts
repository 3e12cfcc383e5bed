/**
 * Login by tenant slug, email and password, with lockout. Every refusal before the password is known to be
 * right is the same 401 with the same body, and costs one scrypt verification whether or not the tenant or
 * email exists, so the answer reveals neither existence nor lock state to someone guessing.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { withTenant } from '../db/tenant.js';
import { GatewayError } from '../errors.js';
import { hashPassword, verifyPassword } from './password.js';
import { findLoginUser, findTenantBySlug, recordLoginFailure, recordLoginSuccess } from './account-repo.js';
import { purgeExpiredSessions } from './session-repo.js';
import { issueSession, type ClientMeta, type SessionDeps, type TokenPair } from './sessions.js';
import type { UserRole } from '../db/schema/auth.js';

export interface LoginDeps extends SessionDeps {
  config: SessionDeps['config'] & Pick<Config, 'LYSS_LOGIN_MAX_ATTEMPTS' | 'LYSS_LOGIN_LOCK_MS'>;
}

export interface LoginInput {
  tenant: string;
  email: string;
  password: string;
}

export interface LoginResult extends TokenPair {
  user: { id: string; tenant_id: string; email: string; role: UserRole };
}

let dummyHash: Promise<string> | undefined;
/** Verifies against a throwaway hash so a missing tenant or user costs what a wrong password costs. */
async function spendVerification(password: string): Promise<void> {
  dummyHash ??= hashPassword(randomBytes(24).toString('base64url'));
  await verifyPassword(password, await dummyHash);
}

export const invalidCredentials = () =>
  new GatewayError(
    'invalid_credentials',
    'Invalid tenant, email or password, or the account is temporarily locked after too many failed attempts.',
  );

export async function login(deps: LoginDeps, input: LoginInput, meta: ClientMeta): Promise<LoginResult> {
  const refused = (reason: string) => {
    // The client learns nothing; the log says why, for whoever investigates a lockout or an attack.
    deps.logger.info('admin login refused', { tenant: input.tenant, email: input.email, reason, ip: meta.ip });
    return invalidCredentials();
  };
  const tenant = await findTenantBySlug(deps.db, input.tenant);
  if (!tenant) {
    await spendVerification(input.password);
    throw refused('unknown tenant');
  }
  const user = await withTenant(deps.db, tenant.id, (tx) => findLoginUser(tx, input.email));
  if (!user) {
    await spendVerification(input.password);
    throw refused('unknown email');
  }
  // Verified outside any transaction: scrypt is slow on purpose and must not hold a pooled connection.
  const matches = await verifyPassword(input.password, user.hashedPassword);
  if (user.lockedUntil !== null && user.lockedUntil.getTime() > Date.now()) throw refused('locked');
  if (!matches) {
    const { locked } = await withTenant(deps.db, tenant.id, (tx) =>
      recordLoginFailure(tx, user.id, deps.config.LYSS_LOGIN_MAX_ATTEMPTS, deps.config.LYSS_LOGIN_LOCK_MS),
    );
    if (locked) deps.logger.warn('admin account locked after repeated failed logins', { tenant: input.tenant, userId: user.id, ip: meta.ip });
    throw refused('wrong password');
  }
  // From here the caller has proved the password, so saying why they cannot come in reveals nothing.
  if (!user.isActive || user.status !== 'active') throw new GatewayError('forbidden', 'This account is deactivated.');
  if (tenant.status !== 'active' && user.role !== 'super_admin') throw new GatewayError('tenant_suspended', 'Your organization is not active.');
  // Fail closed: this gateway cannot check a second factor yet, so an account that requires one cannot log in.
  if (user.mfaEnabled) throw new GatewayError('forbidden', 'This account requires multi-factor authentication, which this gateway does not support yet.');
  const tokens = await withTenant(deps.db, tenant.id, async (tx) => {
    await recordLoginSuccess(tx, user.id);
    await purgeExpiredSessions(tx, user.id);
    return issueSession(deps, tx, { id: user.id, tenantId: tenant.id }, meta);
  });
  return { ...tokens, user: { id: user.id, tenant_id: tenant.id, email: user.email, role: user.role } };
}
