/** provider_* tables: provider types, channels (upstream keys, after One-API) and users' access tokens. */
import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, serial, text, unique, uuid, varchar } from 'drizzle-orm/pg-core';
import { createdAt, id, ts, updatedAt } from './common.js';
import { tenantOrganizations, tenantUserGroups } from './tenant.js';
import { authUsers } from './auth.js';

export type ApiFormat = 'openai' | 'anthropic' | 'azure' | 'custom';

export const providerTypes = pgTable('provider_types', {
  id: serial('id').primaryKey(),
  name: varchar('name', { length: 50 }).notNull().unique(),
  displayName: varchar('display_name', { length: 100 }).notNull(),
  baseUrl: text('base_url'),
  supportedModels: jsonb('supported_models').$type<string[]>().notNull().default([]),
  apiFormat: varchar('api_format', { length: 20 }).$type<ApiFormat>().notNull().default('openai'),
  status: varchar('status', { length: 20 }).notNull().default('active'),
});

/** provider_channels.status */
export const ChannelStatus = { enabled: 1, disabled: 2, error: 3 } as const;
/** provider_tokens.status */
export const TokenStatus = { enabled: 1, disabled: 2, expired: 3 } as const;

export type ConfigScope = 'personal' | 'group' | 'tenant';

export const providerChannels = pgTable(
  'provider_channels',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 100 }).notNull(),
    type: integer('type').notNull().references(() => providerTypes.id),
    /** The upstream API key, AES-256-GCM ciphertext. */
    key: text('key').notNull(),
    priority: integer('priority').notNull().default(1),
    weight: integer('weight').notNull().default(1),
    status: integer('status').notNull().default(ChannelStatus.enabled),
    quota: bigint('quota', { mode: 'number' }).notNull().default(-1),
    usedQuota: bigint('used_quota', { mode: 'number' }).notNull().default(0),
    rateLimit: integer('rate_limit').notNull().default(100),
    configScope: varchar('config_scope', { length: 20 }).$type<ConfigScope>().notNull().default('personal'),
    ownerId: uuid('owner_id').references(() => authUsers.id, { onDelete: 'cascade' }),
    groupId: uuid('group_id').references(() => tenantUserGroups.id, { onDelete: 'cascade' }),
    models: jsonb('models').$type<string[]>().notNull().default([]),
    modelMapping: jsonb('model_mapping').$type<Record<string, string>>().notNull().default({}),
    /** Overrides the provider type's base URL (self-hosted and compatible endpoints). */
    baseUrl: text('base_url'),
    /** Adapter options, e.g. { api_version } for Azure OpenAI. */
    config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
    /** Why and when the status last changed (health checks set status 3 with a reason). */
    statusReason: text('status_reason'),
    statusChangedAt: ts('status_changed_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('uk_provider_channels_tenant_name').on(t.tenantId, t.name),
    index('idx_channels_tenant_scope').on(t.tenantId, t.configScope),
    index('idx_channels_status').on(t.status),
    check('provider_channels_scope_check', sql`${t.configScope} in ('personal', 'group', 'tenant')`),
    check('provider_channels_status_check', sql`${t.status} in (1, 2, 3)`),
    check(
      'provider_channels_scope_owner_check',
      sql`(${t.configScope} <> 'personal' or ${t.ownerId} is not null) and (${t.configScope} <> 'group' or ${t.groupId} is not null)`,
    ),
  ],
);

export const providerTokens = pgTable(
  'provider_tokens',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => authUsers.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 100 }).notNull(),
    /** SHA-256 digest (hex) of the token; the token itself is shown once and never stored. */
    key: text('key').notNull().unique(),
    /** A short, non-secret start of the token, for display. */
    keyPrefix: varchar('key_prefix', { length: 16 }).notNull(),
    allowedChannels: jsonb('allowed_channels').$type<string[]>().notNull().default([]),
    allowedModels: jsonb('allowed_models').$type<string[]>().notNull().default([]),
    quota: bigint('quota', { mode: 'number' }).notNull().default(-1),
    usedQuota: bigint('used_quota', { mode: 'number' }).notNull().default(0),
    rateLimit: integer('rate_limit').notNull().default(60),
    status: integer('status').notNull().default(TokenStatus.enabled),
    expiresAt: ts('expires_at'),
    lastUsedAt: ts('last_used_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('idx_tokens_tenant_user').on(t.tenantId, t.userId),
    index('idx_tokens_key').on(t.key),
    check('provider_tokens_status_check', sql`${t.status} in (1, 2, 3)`),
  ],
);
