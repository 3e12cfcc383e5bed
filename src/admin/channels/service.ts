/**
 * Channel rules: end users see and manage only their own personal channels; admins manage every scope.
 * Keys are sealed on the way in and only ever leave as a mask.
 */
import type { Db } from '../../db/client.js';
import type { SecretBox } from '../../crypto/secrets.js';
import { ChannelStatus, type ConfigScope } from '../../db/schema/provider.js';
import { GatewayError } from '../../errors.js';
import { isAdmin, type Actor } from '../../auth/actor.js';
import { iso } from '../pagination.js';
import { requireGroup, requireUser } from '../references.js';
import { getChannel, insertChannel, providerTypeByName, providerTypeNames, updateChannel, type ChannelFilter, type ChannelInsert, type ChannelRow } from './repo.js';
import type { ChannelJson, createChannelBody, updateChannelBody } from './schemas.js';
import type { z } from 'zod';

export const channelNotFound = () => new GatewayError('not_found', 'No channel with this id.', { param: 'id' });

const statusNames: Record<number, ChannelJson['status']> = { 1: 'enabled', 2: 'disabled', 3: 'error' };
export const statusValue = { enabled: ChannelStatus.enabled, disabled: ChannelStatus.disabled, error: ChannelStatus.error } as const;

/** `sk-...abcd`: enough to recognise a key, never enough to use it. Short keys show less. */
export function maskKey(key: string): string {
  if (key.length >= 16) return `${key.slice(0, 3)}...${key.slice(-4)}`;
  if (key.length >= 8) return `...${key.slice(-2)}`;
  return '****';
}

export function channelJson(r: ChannelRow, secrets: SecretBox | null): ChannelJson {
  let masked: string | null = null;
  try {
    if (secrets) masked = maskKey(secrets.open(r.key));
  } catch {
    masked = null;
  }
  return {
    id: r.id,
    name: r.name,
    type: r.typeName,
    base_url: r.baseUrl,
    key_masked: masked,
    models: r.models,
    model_mapping: r.modelMapping,
    priority: r.priority,
    weight: r.weight,
    status: statusNames[r.status] ?? 'error',
    status_reason: r.statusReason,
    status_changed_at: iso(r.statusChangedAt),
    quota: r.quota,
    used_quota: r.usedQuota,
    rate_limit: r.rateLimit,
    scope: r.scope,
    owner_id: r.ownerId,
    group_id: r.groupId,
    config: r.config,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

/** What the actor may see: everything for admins, their own personal channels for end users. */
export function visibleTo(actor: Actor): ChannelFilter {
  return isAdmin(actor) ? {} : { scope: 'personal', ownerId: actor.userId };
}

export async function loadVisibleChannel(tx: Db, actor: Actor, id: string): Promise<ChannelRow> {
  const row = await getChannel(tx, id, visibleTo(actor));
  if (!row) throw channelNotFound();
  return row;
}

function requireSecrets(secrets: SecretBox | null): SecretBox {
  if (!secrets) {
    throw new GatewayError('service_unavailable', 'Channel keys cannot be stored: LYSS_SECRET_KEY is not configured on this gateway.', { param: 'key' });
  }
  return secrets;
}

async function resolveType(tx: Db, name: string) {
  const type = await providerTypeByName(tx, name);
  if (!type) {
    const known = await providerTypeNames(tx);
    throw new GatewayError('invalid_request_error', `type: unknown provider type "${name}" (known: ${known.join(', ')})`, { param: 'type' });
  }
  return type;
}

const refuse = (param: string, message: string) => new GatewayError('forbidden', `${param}: ${message}`, { param });
const invalid = (param: string, message: string) => new GatewayError('invalid_request_error', `${param}: ${message}`, { param });

interface Placement {
  scope: ConfigScope;
  ownerId: string | null;
  groupId: string | null;
}

/**
 * Where a channel sits after a create or update. End users: only personal, only their own. Admins: any
 * scope, with exactly the owner or group that scope needs, both checked to exist in this tenant.
 */
async function place(
  tx: Db,
  actor: Actor,
  tenantId: string,
  asked: { scope?: ConfigScope; owner_id?: string | null; group_id?: string | null },
  current: Placement | null,
): Promise<Placement> {
  if (!isAdmin(actor)) {
    if (asked.scope !== undefined && asked.scope !== 'personal') throw refuse('scope', 'end users can only have personal channels');
    if (asked.owner_id != null && asked.owner_id !== actor.userId) throw refuse('owner_id', 'end users can only own their own channels');
    if (asked.group_id != null) throw refuse('group_id', 'end users cannot create group channels');
    return { scope: 'personal', ownerId: actor.userId, groupId: null };
  }
  const scope = asked.scope ?? current?.scope ?? 'tenant';
  const scopeChanged = current !== null && scope !== current.scope;
  const ownerId = asked.owner_id !== undefined ? asked.owner_id : scopeChanged ? null : (current?.ownerId ?? null);
  const groupId = asked.group_id !== undefined ? asked.group_id : scopeChanged ? null : (current?.groupId ?? null);
  if (scope === 'tenant') {
    if (ownerId) throw invalid('owner_id', 'only applies to scope personal');
    if (groupId) throw invalid('group_id', 'only applies to scope group');
    return { scope, ownerId: null, groupId: null };
  }
  if (scope === 'group') {
    if (ownerId) throw invalid('owner_id', 'only applies to scope personal');
    if (!groupId) throw invalid('group_id', 'is required for scope group');
    await requireGroup(tx, groupId, 'group_id');
    return { scope, ownerId: null, groupId };
  }
  if (groupId) throw invalid('group_id', 'only applies to scope group');
  // An admin's personal channel is their own unless they name another user (never implicit across tenants).
  const owner = ownerId ?? (actor.tenantId === tenantId ? actor.userId : null);
  if (!owner) throw invalid('owner_id', 'is required for scope personal');
  await requireUser(tx, owner, 'owner_id');
  return { scope, ownerId: owner, groupId: null };
}

function checkBaseUrl(type: { name: string; baseUrl: string | null }, baseUrl: string | null): void {
  if (!type.baseUrl && !baseUrl) throw invalid('base_url', `is required for ${type.name} channels (the resource endpoint)`);
}

type CreateInput = z.output<typeof createChannelBody>;
type UpdateInput = z.output<typeof updateChannelBody>;

const statusWrite = (status: 'enabled' | 'disabled', actor: Actor) => ({
  status: statusValue[status],
  statusReason: status === 'disabled' ? `disabled by ${actor.email}` : null,
  statusChangedAt: new Date(),
});

export async function createChannel(tx: Db, secrets: SecretBox | null, actor: Actor, tenantId: string, v: CreateInput): Promise<ChannelRow> {
  const box = requireSecrets(secrets);
  const type = await resolveType(tx, v.type);
  checkBaseUrl(type, v.base_url);
  const placement = await place(tx, actor, tenantId, v, null);
  const values: ChannelInsert = {
    tenantId,
    name: v.name,
    type: type.id,
    key: box.seal(v.key),
    models: v.models,
    modelMapping: v.model_mapping,
    baseUrl: v.base_url,
    priority: v.priority,
    weight: v.weight,
    rateLimit: v.rate_limit,
    quota: v.quota,
    configScope: placement.scope,
    ownerId: placement.ownerId,
    groupId: placement.groupId,
    config: v.config,
    ...(v.status === 'disabled' ? statusWrite('disabled', actor) : {}),
  };
  const { id } = await insertChannel(tx, values);
  return (await getChannel(tx, id))!;
}

export async function updateChannelAs(tx: Db, secrets: SecretBox | null, actor: Actor, tenantId: string, id: string, v: UpdateInput): Promise<ChannelRow> {
  const current = await loadVisibleChannel(tx, actor, id);
  const type = v.type !== undefined ? await resolveType(tx, v.type) : { id: current.typeId, name: current.typeName, baseUrl: current.typeBaseUrl };
  checkBaseUrl(type, v.base_url !== undefined ? v.base_url : current.baseUrl);
  const placement = await place(tx, actor, tenantId, v, { scope: current.scope, ownerId: current.ownerId, groupId: current.groupId });
  await updateChannel(tx, id, {
    name: v.name,
    type: type.id,
    key: v.key !== undefined ? requireSecrets(secrets).seal(v.key) : undefined,
    models: v.models,
    modelMapping: v.model_mapping,
    baseUrl: v.base_url,
    priority: v.priority,
    weight: v.weight,
    rateLimit: v.rate_limit,
    quota: v.quota,
    configScope: placement.scope,
    ownerId: placement.ownerId,
    groupId: placement.groupId,
    config: v.config,
    ...(v.status !== undefined ? statusWrite(v.status, actor) : {}),
  });
  return (await getChannel(tx, id))!;
}

export async function setChannelStatusAs(tx: Db, actor: Actor, id: string, status: 'enabled' | 'disabled'): Promise<ChannelRow> {
  await loadVisibleChannel(tx, actor, id);
  await updateChannel(tx, id, statusWrite(status, actor));
  return (await getChannel(tx, id))!;
}
