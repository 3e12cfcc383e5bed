/**
 * User management rules: max_users, who may grant which role, and that nobody edits their own role or
 * status through the admin endpoints (so no one raises their own rights or locks themselves out).
 */
import type { Db } from '../../db/client.js';
import { GatewayError } from '../../errors.js';
import { hashPassword } from '../../auth/password.js';
import { revokeUserSessions } from '../../auth/session-repo.js';
import type { Actor } from '../../auth/actor.js';
import type { UserRole } from '../../db/schema/auth.js';
import { emailTaken, getUser, insertUser, lockSeats, updateUser, type UserRow, type UserWrite } from './repo.js';

export const userNotFound = () => new GatewayError('not_found', 'No user with this id.', { param: 'id' });

function checkGrant(actor: Actor, role: UserRole | undefined): void {
  if (role === 'super_admin' && actor.role !== 'super_admin') {
    throw new GatewayError('forbidden', 'role: only a super admin can grant super_admin', { param: 'role' });
  }
}

async function checkSeat(tx: Db, tenantId: string): Promise<void> {
  const seats = await lockSeats(tx, tenantId);
  if (seats.active >= seats.maxUsers) {
    throw new GatewayError('max_users_reached', `This tenant already has ${seats.active} active users, its max_users.`);
  }
}

export interface CreateUserInput {
  email: string;
  password: string;
  role: UserRole;
  username?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  full_name?: string | null;
  avatar_url?: string | null;
}

const profileWrite = (v: Partial<CreateUserInput>): UserWrite => ({
  username: v.username,
  firstName: v.first_name,
  lastName: v.last_name,
  fullName: v.full_name,
  avatarUrl: v.avatar_url,
});

export async function createUser(tx: Db, actor: Actor, tenantId: string, v: CreateUserInput, hashedPassword: string): Promise<UserRow> {
  checkGrant(actor, v.role);
  await checkSeat(tx, tenantId);
  if (await emailTaken(tx, v.email)) throw new GatewayError('conflict', 'email: already exists', { param: 'email' });
  return insertUser(tx, tenantId, { email: v.email, hashedPassword, role: v.role, status: 'active', ...profileWrite(v) });
}

export interface UpdateUserInput extends Partial<CreateUserInput> {
  status?: 'active' | 'inactive' | 'suspended';
}

/** Hash the new password before the transaction: scrypt is slow and must not hold the connection. */
export async function hashIfGiven(password: string | undefined): Promise<string | undefined> {
  return password === undefined ? undefined : hashPassword(password);
}

export async function updateUserAs(tx: Db, actor: Actor, tenantId: string, id: string, v: UpdateUserInput, hashedPassword?: string): Promise<UserRow> {
  const target = await getUser(tx, id);
  if (!target) throw userNotFound();
  if (target.role === 'super_admin' && actor.role !== 'super_admin') {
    throw new GatewayError('forbidden', 'Only a super admin can change a super admin.');
  }
  checkGrant(actor, v.role);
  if (target.id === actor.userId) {
    if (v.role !== undefined && v.role !== target.role) throw new GatewayError('forbidden', 'role: you cannot change your own role', { param: 'role' });
    if (v.status !== undefined && v.status !== 'active') throw new GatewayError('forbidden', 'status: you cannot deactivate yourself', { param: 'status' });
    // Otherwise a stolen session would be an account taken over: your own password changes where the current one is asked.
    if (hashedPassword !== undefined) {
      throw new GatewayError('forbidden', 'password: change your own password with POST /api/auth/password, which asks for the current one', { param: 'password' });
    }
  }
  if (v.email !== undefined && (await emailTaken(tx, v.email, id))) throw new GatewayError('conflict', 'email: already exists', { param: 'email' });
  const reactivating = v.status === 'active' && target.status !== 'active';
  if (reactivating) await checkSeat(tx, tenantId);
  const row = await updateUser(tx, id, {
    email: v.email,
    role: v.role,
    status: v.status,
    hashedPassword,
    ...profileWrite(v),
    // Setting a user active also lifts a login lockout.
    ...(v.status === 'active' ? { loginAttempts: 0, lockedUntil: null } : {}),
  });
  // A deactivated user, or one whose password an admin reset, is signed out everywhere.
  const deactivating = v.status !== undefined && v.status !== 'active' && target.status === 'active';
  if (deactivating || hashedPassword !== undefined || (v.role !== undefined && v.role !== target.role)) await revokeUserSessions(tx, id);
  return row!;
}
