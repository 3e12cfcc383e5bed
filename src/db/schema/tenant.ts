/** tenant_* tables: organisations, user groups and their members. */
import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, unique, uuid, varchar } from 'drizzle-orm/pg-core';
import { createdAt, id, ts, updatedAt } from './common.js';
import { authUsers } from './auth.js';

export interface TenantSettings {
  /** false: usage counters are recorded, message content is not. */
  store_content?: boolean;
  [key: string]: unknown;
}

export const tenantOrganizations = pgTable(
  'tenant_organizations',
  {
    id: id(),
    name: varchar('name', { length: 255 }).notNull(),
    slug: varchar('slug', { length: 100 }).notNull().unique(),
    status: varchar('status', { length: 20 }).notNull().default('active'),
    subscriptionPlan: varchar('subscription_plan', { length: 50 }).notNull().default('basic'),
    maxUsers: integer('max_users').notNull().default(10),
    settings: jsonb('settings').$type<TenantSettings>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('idx_tenant_orgs_slug').on(t.slug),
    index('idx_tenant_orgs_status').on(t.status),
    check('tenant_organizations_status_check', sql`${t.status} in ('active', 'suspended', 'inactive')`),
  ],
);

export const tenantUserGroups = pgTable(
  'tenant_user_groups',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 100 }).notNull(),
    description: text('description'),
    createdBy: uuid('created_by').references(() => authUsers.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [unique('uk_tenant_user_groups_tenant_name').on(t.tenantId, t.name), index('idx_user_groups_tenant').on(t.tenantId)],
);

export const tenantUserGroupMembers = pgTable(
  'tenant_user_group_members',
  {
    id: id(),
    // Not in the founding document: Row Level Security needs the tenant on every tenant-scoped row.
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    groupId: uuid('group_id').notNull().references(() => tenantUserGroups.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => authUsers.id, { onDelete: 'cascade' }),
    role: varchar('role', { length: 20 }).notNull().default('member'),
    joinedAt: ts('joined_at').notNull().defaultNow(),
  },
  (t) => [
    unique('uk_tenant_group_members').on(t.groupId, t.userId),
    index('idx_group_members_user').on(t.userId),
    index('idx_group_members_tenant').on(t.tenantId),
    check('tenant_user_group_members_role_check', sql`${t.role} in ('admin', 'member')`),
  ],
);
