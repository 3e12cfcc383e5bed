/**
 * Applies a validated LYSS_CONFIG file: an idempotent upsert of every entry by its natural key, all in one
 * transaction, so a file with any problem applies nothing. Entries link by name (slug, email, group and
 * channel names); those names resolve against rows written earlier in the same transaction or already in
 * the database.
 */
import type { Db } from '../db/client.js';
import { actForTenant } from '../db/tenant.js';
import type { SecretBox } from '../crypto/secrets.js';
import type { ChannelEntry, ParsedConfig, TenantEntry, TokenEntry } from './config-file.js';
import { describePath } from './config-file.js';
import {
  channelIdsByName,
  countActiveUsers,
  findGroupId,
  findUserId,
  providerTypeIds,
  syncGroupMembers,
  upsertChannel,
  upsertGroup,
  upsertTenant,
  upsertToken,
  upsertUser,
  type Outcome,
} from './repo.js';
import { SetupConflict, SetupError } from './setup-error.js';

export { loadConfigFile } from './config-file.js';

export interface ApplyCounts {
  created: number;
  updated: number;
  unchanged: number;
}

export interface ApplySummary {
  tenants: ApplyCounts;
  users: ApplyCounts;
  groups: ApplyCounts;
  channels: ApplyCounts;
  tokens: ApplyCounts;
  members: { added: number; removed: number };
  /** Every tenant the file names. */
  tenantIds: string[];
  /** The tenants with any row created, updated or removed: the caches to invalidate. */
  changedTenantIds: string[];
}

export interface ApplyDeps {
  db: Db;
  /** null on PostgreSQL without LYSS_SECRET_KEY: a file with channels is refused. */
  secrets: SecretBox | null;
}

const counts = (): ApplyCounts => ({ created: 0, updated: 0, unchanged: 0 });

export const SECRET_KEY_REQUIRED =
  'LYSS_SECRET_KEY is required to store channel keys on a production (PostgreSQL) database; set it (32 bytes, base64) on every instance';

/** Applies `file`; throws a SetupError naming every problem, in which case nothing was written. */
export async function applyConfig(deps: ApplyDeps, file: ParsedConfig): Promise<ApplySummary> {
  const at = (...path: PropertyKey[]) => describePath(file, path);
  const { secrets } = deps;
  if (!secrets) {
    const problems = file.tenants.flatMap((t, i) => t.channels.map((_, j) => `${at('tenants', i, 'channels', j, 'key')}: ${SECRET_KEY_REQUIRED}`));
    if (problems.length > 0) throw new SetupError(problems);
  }

  return deps.db.transaction(async (raw) => {
    const tx = raw as unknown as Db;
    const summary: ApplySummary = {
      tenants: counts(),
      users: counts(),
      groups: counts(),
      channels: counts(),
      tokens: counts(),
      members: { added: 0, removed: 0 },
      tenantIds: [],
      changedTenantIds: [],
    };
    const problems: string[] = [];
    const types = await providerTypeIds(tx);
    file.tenants.forEach((tenant, t) =>
      tenant.channels.forEach((c, i) => {
        if (!types.has(c.type)) {
          problems.push(`${at('tenants', t, 'channels', i, 'type')}: unknown provider type "${c.type}" (known: ${[...types.keys()].join(', ')})`);
        }
      }),
    );

    for (const [t, tenant] of file.tenants.entries()) {
      const { id, changed } = await applyTenant(tx, { tenant, t, at, types, secrets, summary, problems });
      summary.tenantIds.push(id);
      if (changed) summary.changedTenantIds.push(id);
    }
    // Throwing rolls the whole transaction back: a file with any problem applies nothing.
    if (problems.length > 0) throw new SetupError(problems);
    return summary;
  });
}

interface TenantContext {
  tenant: TenantEntry;
  t: number;
  at: (...path: PropertyKey[]) => string;
  types: Map<string, number>;
  secrets: SecretBox | null;
  summary: ApplySummary;
  problems: string[];
}

/** Writes one tenant and everything under it, in dependency order (users, groups, channels, tokens). */
async function applyTenant(tx: Db, ctx: TenantContext): Promise<{ id: string; changed: boolean }> {
  const { tenant, t, at, summary, problems } = ctx;
  let changed = false;
  const count = (kind: ApplyCounts, outcome: Outcome) => {
    kind[outcome] += 1;
    if (outcome !== 'unchanged') changed = true;
  };

  const { id: tenantId, outcome } = await upsertTenant(tx, {
    slug: tenant.slug,
    name: tenant.name,
    maxUsers: tenant.max_users,
    settings: tenant.settings,
  });
  count(summary.tenants, outcome);
  await actForTenant(tx, tenantId);

  let usersCreated = 0;
  for (const user of tenant.users) {
    const r = await upsertUser(tx, tenantId, user);
    count(summary.users, r.outcome);
    if (r.outcome === 'created') usersCreated += 1;
  }
  if (usersCreated > 0) {
    const total = await countActiveUsers(tx, tenantId);
    if (total > tenant.max_users) problems.push(`${at('tenants', t, 'users')}: the tenant would have ${total} active users, more than max_users ${tenant.max_users}`);
  }

  const userId = async (email: string, where: string): Promise<string | null> => {
    const id = await findUserId(tx, tenantId, email);
    if (!id) problems.push(`${where}: unknown user "${email}" (not in this tenant's users, nor in the database)`);
    return id;
  };

  for (const [g, group] of tenant.groups.entries()) {
    const r = await upsertGroup(tx, tenantId, group.name);
    count(summary.groups, r.outcome);
    const ids: string[] = [];
    for (const [m, email] of group.members.entries()) {
      const id = await userId(email, at('tenants', t, 'groups', g, 'members', m));
      if (id) ids.push(id);
    }
    if (ids.length !== group.members.length) continue;
    const { added, removed } = await syncGroupMembers(tx, tenantId, r.id, ids);
    summary.members.added += added;
    summary.members.removed += removed;
    if (added + removed > 0) changed = true;
  }

  for (const [i, channel] of tenant.channels.entries()) {
    const outcome = await applyChannel(tx, ctx, tenantId, channel, at('tenants', t, 'channels', i), userId);
    if (outcome) count(summary.channels, outcome);
  }

  for (const [i, token] of tenant.tokens.entries()) {
    const outcome = await applyToken(tx, ctx, tenantId, token, at('tenants', t, 'tokens', i), userId);
    if (outcome) count(summary.tokens, outcome);
  }
  return { id: tenantId, changed };
}

type ResolveUser = (email: string, where: string) => Promise<string | null>;

async function applyChannel(
  tx: Db,
  ctx: TenantContext,
  tenantId: string,
  channel: ChannelEntry,
  where: string,
  userId: ResolveUser,
): Promise<Outcome | null> {
  const type = ctx.types.get(channel.type);
  let groupId: string | null = null;
  let ownerId: string | null = null;
  if (channel.scope === 'group' && channel.group) {
    groupId = await findGroupId(tx, tenantId, channel.group);
    if (!groupId) ctx.problems.push(`${where}.group: unknown group "${channel.group}" (not in this tenant's groups, nor in the database)`);
  }
  if (channel.scope === 'personal' && channel.owner) ownerId = await userId(channel.owner, `${where}.owner`);
  // Unknown types were reported up front; a missing reference was just reported. Skip the write either way.
  if (type === undefined || !ctx.secrets) return null;
  if ((channel.scope === 'group' && !groupId) || (channel.scope === 'personal' && !ownerId)) return null;
  const r = await upsertChannel(
    tx,
    tenantId,
    {
      name: channel.name,
      type,
      key: channel.key,
      models: channel.models,
      modelMapping: channel.model_mapping,
      priority: channel.priority,
      weight: channel.weight,
      rateLimit: channel.rate_limit,
      quota: channel.quota,
      configScope: channel.scope,
      ownerId,
      groupId,
      baseUrl: channel.base_url,
      config: channel.config,
    },
    ctx.secrets,
  );
  return r.outcome;
}

async function applyToken(
  tx: Db,
  ctx: TenantContext,
  tenantId: string,
  token: TokenEntry,
  where: string,
  userId: ResolveUser,
): Promise<Outcome | null> {
  const owner = await userId(token.user, `${where}.user`);
  const names = [...new Set(token.allowed_channels)];
  const byName = await channelIdsByName(tx, tenantId, names);
  const missing = names.filter((n) => !byName.has(n));
  for (const name of missing) {
    const j = token.allowed_channels.indexOf(name);
    ctx.problems.push(`${where}.allowed_channels[${j}]: unknown channel "${name}" (not in this tenant's channels, nor in the database)`);
  }
  if (!owner || missing.length > 0) return null;
  try {
    const r = await upsertToken(tx, tenantId, {
      name: token.name,
      userId: owner,
      key: token.key,
      allowedModels: token.allowed_models,
      allowedChannels: names.map((n) => byName.get(n)!),
      quota: token.quota,
      rateLimit: token.rate_limit,
      expiresAt: token.expires_at === null ? null : new Date(token.expires_at),
    });
    return r.outcome;
  } catch (err) {
    if (!(err instanceof SetupConflict)) throw err;
    ctx.problems.push(`${where}: ${err.message}`);
    return null;
  }
}
