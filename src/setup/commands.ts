/**
 * The CLI's create-* operations: one entry each, validated by the same schemas as the config file, and
 * refused when the entry already exists (use `apply` for idempotent updates).
 */
import type { z } from 'zod';
import { lockSeats } from '../admin/users/repo.js';
import type { Db } from '../db/client.js';
import { withTenant } from '../db/tenant.js';
import type { SecretBox } from '../crypto/secrets.js';
import { generateToken } from '../crypto/digest.js';
import { channelEntrySchema, formatIssues, tenantEntrySchema, tokenEntrySchema, userEntrySchema } from './config-file.js';
import {
  channelIdsByName,
  findChannelId,
  findGroupId,
  findTenantId,
  findTokenIds,
  findUserId,
  providerTypeIds,
  upsertChannel,
  upsertTenant,
  upsertToken,
  upsertUser,
} from './repo.js';
import { SECRET_KEY_REQUIRED } from './apply.js';
import { SetupError } from './setup-error.js';

/** Validates CLI input with an entry schema; problems name the flag (`--max-users: must be at least 1`). */
function parseInput<S extends z.ZodType>(schema: S, raw: Record<string, unknown>, command: string): z.output<S> {
  const defined = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const parsed = schema.safeParse(defined);
  if (parsed.success) return parsed.data;
  const problems = formatIssues(parsed.error, defined).map((p) => p.replace(/^[a-z_]+/, (k) => `--${k.replace(/_/g, '-')}`));
  throw new SetupError(problems, `${command}: invalid arguments`);
}

async function requireTenant(db: Db, slug: string, command: string): Promise<string> {
  const id = await findTenantId(db, slug);
  if (!id) throw new SetupError([`--tenant: unknown tenant "${slug}"`], command);
  return id;
}

export async function createTenant(db: Db, input: { slug: string; name: string; maxUsers?: number }): Promise<{ id: string }> {
  const v = parseInput(tenantEntrySchema.pick({ slug: true, name: true, max_users: true, settings: true }), {
    slug: input.slug,
    name: input.name,
    max_users: input.maxUsers,
  }, 'create-tenant');
  return db.transaction(async (raw) => {
    const tx = raw as unknown as Db;
    if (await findTenantId(tx, v.slug)) throw new SetupError([`--slug: tenant "${v.slug}" already exists`], 'create-tenant');
    const r = await upsertTenant(tx, { slug: v.slug, name: v.name, maxUsers: v.max_users, settings: v.settings });
    return { id: r.id };
  });
}

export async function createUser(
  db: Db,
  input: { tenant: string; email: string; password: string; role: string },
): Promise<{ id: string }> {
  const v = parseInput(userEntrySchema, { email: input.email, password: input.password, role: input.role }, 'create-user');
  const tenantId = await requireTenant(db, input.tenant, 'create-user');
  return withTenant(db, tenantId, async (tx) => {
    if (await findUserId(tx, tenantId, v.email)) throw new SetupError([`--email: user "${v.email}" already exists in tenant "${input.tenant}"`], 'create-user');
    // The seat check the admin API makes, under the same lock.
    const seats = await lockSeats(tx, tenantId);
    if (seats.active >= seats.maxUsers) {
      throw new SetupError([`--tenant: "${input.tenant}" already has ${seats.active} active users, its max_users`], 'create-user');
    }
    const r = await upsertUser(tx, tenantId, v);
    return { id: r.id };
  });
}

export interface CreateChannelInput {
  tenant: string;
  name: string;
  type: string;
  key: string;
  models: string[];
  baseUrl?: string;
  scope?: string;
  group?: string;
  owner?: string;
  priority?: number;
  weight?: number;
  rateLimit?: number;
  quota?: number;
}

export async function createChannel(deps: { db: Db; secrets: SecretBox | null }, input: CreateChannelInput): Promise<{ id: string }> {
  const v = parseInput(
    channelEntrySchema,
    {
      name: input.name,
      type: input.type,
      key: input.key,
      models: input.models,
      base_url: input.baseUrl,
      scope: input.scope,
      group: input.group,
      owner: input.owner,
      priority: input.priority,
      weight: input.weight,
      rate_limit: input.rateLimit,
      quota: input.quota,
    },
    'create-channel',
  );
  const { secrets, db } = deps;
  if (!secrets) throw new SetupError([`--key: ${SECRET_KEY_REQUIRED}`], 'create-channel');
  if (v.scope === 'group' && !v.group) throw new SetupError(['--group: is required for scope group'], 'create-channel');
  if (v.scope === 'personal' && !v.owner) throw new SetupError(['--owner: is required for scope personal'], 'create-channel');
  const tenantId = await requireTenant(db, input.tenant, 'create-channel');
  return withTenant(db, tenantId, async (tx) => {
    const problems: string[] = [];
    const types = await providerTypeIds(tx);
    const type = types.get(v.type);
    if (type === undefined) problems.push(`--type: unknown provider type "${v.type}" (known: ${[...types.keys()].join(', ')})`);
    if (await findChannelId(tx, tenantId, v.name)) problems.push(`--name: channel "${v.name}" already exists in tenant "${input.tenant}"`);
    const groupId = v.scope === 'group' && v.group ? await findGroupId(tx, tenantId, v.group) : null;
    if (v.scope === 'group' && !groupId) problems.push(`--group: unknown group "${v.group}"`);
    const ownerId = v.scope === 'personal' && v.owner ? await findUserId(tx, tenantId, v.owner) : null;
    if (v.scope === 'personal' && !ownerId) problems.push(`--owner: unknown user "${v.owner}"`);
    if (problems.length > 0 || type === undefined) throw new SetupError(problems, 'create-channel');
    const r = await upsertChannel(
      tx,
      tenantId,
      {
        name: v.name,
        type,
        key: v.key,
        models: v.models,
        modelMapping: v.model_mapping,
        priority: v.priority,
        weight: v.weight,
        rateLimit: v.rate_limit,
        quota: v.quota,
        configScope: v.scope,
        ownerId,
        groupId,
        baseUrl: v.base_url,
        config: v.config,
      },
      secrets,
    );
    return { id: r.id };
  });
}

export interface CreateTokenInput {
  tenant: string;
  /** The owner's email. */
  user: string;
  name: string;
  allowedModels?: string[];
  /** Channel names. */
  allowedChannels?: string[];
  quota?: number;
  rateLimit?: number;
  expiresAt?: string;
}

/** Creates a token with a fresh random key and returns the key: it is shown once and stored only as a digest. */
export async function createToken(db: Db, input: CreateTokenInput): Promise<{ id: string; token: string }> {
  const token = generateToken();
  const v = parseInput(
    tokenEntrySchema,
    {
      name: input.name,
      user: input.user,
      key: token,
      allowed_models: input.allowedModels,
      allowed_channels: input.allowedChannels,
      quota: input.quota,
      rate_limit: input.rateLimit,
      expires_at: input.expiresAt,
    },
    'create-token',
  );
  const tenantId = await requireTenant(db, input.tenant, 'create-token');
  return withTenant(db, tenantId, async (tx) => {
    const userId = await findUserId(tx, tenantId, v.user);
    if (!userId) throw new SetupError([`--user: unknown user "${v.user}" in tenant "${input.tenant}"`], 'create-token');
    if ((await findTokenIds(tx, tenantId, userId, v.name)).length > 0) {
      throw new SetupError([`--name: ${v.user} already has a token named "${v.name}"`], 'create-token');
    }
    const byName = await channelIdsByName(tx, tenantId, v.allowed_channels);
    const missing = v.allowed_channels.filter((n) => !byName.has(n));
    if (missing.length > 0) throw new SetupError(missing.map((n) => `--allowed-channels: unknown channel "${n}"`), 'create-token');
    const r = await upsertToken(tx, tenantId, {
      name: v.name,
      userId,
      key: token,
      allowedModels: v.allowed_models,
      allowedChannels: [...new Set(v.allowed_channels)].map((n) => byName.get(n)!),
      quota: v.quota,
      rateLimit: v.rate_limit,
      expiresAt: v.expires_at === null ? null : new Date(v.expires_at),
    });
    return { id: r.id, token };
  });
}
