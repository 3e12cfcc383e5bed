/**
 * Token rules: end users manage their own tokens but cannot raise their limits (quota, rate limit) or
 * re-enable a disabled token; admins manage every token of the tenant.
 */
import type { z } from 'zod';
import { sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { TokenStatus } from '../../db/schema/provider.js';
import { generateToken, sha256Hex, tokenDisplayPrefix } from '../../crypto/digest.js';
import { GatewayError } from '../../errors.js';
import { isAdmin, type Actor } from '../../auth/actor.js';
import { requireChannels, requireUser } from '../references.js';
import { getToken, insertToken, tokenNameTaken, updateToken, type TokenFilter, type TokenRow } from './repo.js';
import type { createTokenBody, updateTokenBody } from './schemas.js';

export const tokenNotFound = () => new GatewayError('not_found', 'No token with this id.', { param: 'id' });
const refuse = (param: string, message: string) => new GatewayError('forbidden', `${param}: ${message}`, { param });

export function tokensVisibleTo(actor: Actor): TokenFilter {
  return isAdmin(actor) ? {} : { userId: actor.userId };
}

export async function loadVisibleToken(tx: Db, actor: Actor, id: string): Promise<TokenRow> {
  const row = await getToken(tx, id, tokensVisibleTo(actor));
  if (!row) throw tokenNotFound();
  return row;
}

function checkLimitsFields(actor: Actor, v: { quota?: number; rate_limit?: number }): void {
  if (isAdmin(actor)) return;
  if (v.quota !== undefined) throw refuse('quota', 'only an admin can set a token quota');
  if (v.rate_limit !== undefined) throw refuse('rate_limit', 'only an admin can set a token rate limit');
}

async function checkName(tx: Db, userId: string, name: string, exceptId?: string): Promise<void> {
  // No unique key backs the name (the founding schema has none), so two creates at once would both pass the check:
  // one user's token names are checked and written one transaction at a time.
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`lyss:token-names:${userId}`}))`);
  if (await tokenNameTaken(tx, userId, name, exceptId)) throw new GatewayError('conflict', 'name: this user already has a token with this name', { param: 'name' });
}

type CreateInput = z.output<typeof createTokenBody>;
type UpdateInput = z.output<typeof updateTokenBody>;

export async function createToken(tx: Db, actor: Actor, tenantId: string, v: CreateInput): Promise<{ row: TokenRow; key: string }> {
  checkLimitsFields(actor, v);
  if (!isAdmin(actor) && v.user_id !== undefined && v.user_id !== actor.userId) throw refuse('user_id', 'end users can only create their own tokens');
  // Never implicit across tenants: a super admin acting for another tenant names the owner.
  const userId = v.user_id ?? (actor.tenantId === tenantId ? actor.userId : undefined);
  if (!userId) throw new GatewayError('invalid_request_error', 'user_id: is required when acting for another tenant', { param: 'user_id' });
  await requireUser(tx, userId, 'user_id');
  await requireChannels(tx, v.allowed_channels, 'allowed_channels');
  await checkName(tx, userId, v.name);
  const key = generateToken();
  const row = await insertToken(tx, {
    tenantId,
    userId,
    name: v.name,
    key: sha256Hex(key),
    keyPrefix: tokenDisplayPrefix(key),
    allowedModels: [...new Set(v.allowed_models)],
    allowedChannels: [...new Set(v.allowed_channels)],
    quota: v.quota,
    rateLimit: v.rate_limit,
    expiresAt: v.expires_at === null ? null : new Date(v.expires_at),
  });
  return { row, key };
}

export async function updateTokenAs(tx: Db, actor: Actor, id: string, v: UpdateInput): Promise<TokenRow> {
  const current = await loadVisibleToken(tx, actor, id);
  checkLimitsFields(actor, v);
  // An admin's disable is how a token is revoked: its owner cannot undo it.
  if (!isAdmin(actor) && v.status === 'enabled' && current.status !== TokenStatus.enabled) {
    throw refuse('status', 'only an admin can re-enable a disabled or expired token');
  }
  // An expiry is a limit: an end user may set or shorten one, never lift or extend it.
  if (!isAdmin(actor) && v.expires_at !== undefined && current.expiresAt !== null) {
    if (v.expires_at === null || new Date(v.expires_at).getTime() > current.expiresAt.getTime()) {
      throw refuse('expires_at', 'only an admin can lift or extend a token expiry');
    }
  }
  if (v.allowed_channels) await requireChannels(tx, v.allowed_channels, 'allowed_channels');
  if (v.name !== undefined && v.name !== current.name) await checkName(tx, current.userId, v.name, id);
  const row = await updateToken(tx, id, {
    name: v.name,
    allowedModels: v.allowed_models ? [...new Set(v.allowed_models)] : undefined,
    allowedChannels: v.allowed_channels ? [...new Set(v.allowed_channels)] : undefined,
    quota: v.quota,
    rateLimit: v.rate_limit,
    expiresAt: v.expires_at === undefined ? undefined : v.expires_at === null ? null : new Date(v.expires_at),
    status: v.status === undefined ? undefined : v.status === 'enabled' ? TokenStatus.enabled : TokenStatus.disabled,
  });
  return row!;
}
