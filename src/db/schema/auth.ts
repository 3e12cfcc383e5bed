/** auth_* tables: users (the founding document's `users` and `auth_users`, merged), sessions and OAuth. */
import { sql } from 'drizzle-orm';
import { boolean, check, index, inet, integer, pgTable, text, unique, uuid, varchar } from 'drizzle-orm/pg-core';
import { createdAt, id, ts, updatedAt } from './common.js';
import { tenantOrganizations } from './tenant.js';

export const userRoles = ['super_admin', 'tenant_admin', 'end_user'] as const;
export type UserRole = (typeof userRoles)[number];

export const authUsers = pgTable(
  'auth_users',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    email: varchar('email', { length: 255 }).notNull(),
    username: varchar('username', { length: 100 }),
    hashedPassword: varchar('hashed_password', { length: 255 }).notNull(),
    firstName: varchar('first_name', { length: 100 }),
    lastName: varchar('last_name', { length: 100 }),
    fullName: varchar('full_name', { length: 200 }),
    avatarUrl: text('avatar_url'),
    // Replaces auth_users.role_id, which referenced no table (design.md §2).
    role: varchar('role', { length: 20 }).$type<UserRole>().notNull().default('end_user'),
    status: varchar('status', { length: 20 }).notNull().default('active'),
    isActive: boolean('is_active').notNull().default(true),
    emailVerified: boolean('email_verified').notNull().default(false),
    lastLoginAt: ts('last_login_at'),
    loginAttempts: integer('login_attempts').notNull().default(0),
    lockedUntil: ts('locked_until'),
    mfaEnabled: boolean('mfa_enabled').notNull().default(false),
    /** TOTP secret, AES-256-GCM ciphertext (src/crypto/secrets.ts). */
    mfaSecret: text('mfa_secret'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('uk_auth_users_tenant_email').on(t.tenantId, t.email),
    unique('uk_auth_users_tenant_username').on(t.tenantId, t.username),
    index('idx_auth_users_tenant_id').on(t.tenantId),
    index('idx_auth_users_email').on(t.email),
    index('idx_auth_users_role').on(t.role),
    index('idx_auth_users_active').on(t.isActive),
    index('idx_auth_users_status').on(t.tenantId, t.status),
    check('auth_users_role_check', sql`${t.role} in ('super_admin', 'tenant_admin', 'end_user')`),
    check('auth_users_status_check', sql`${t.status} in ('active', 'inactive', 'suspended')`),
  ],
);

export const authUserSessions = pgTable(
  'auth_user_sessions',
  {
    id: id(),
    userId: uuid('user_id').notNull().references(() => authUsers.id, { onDelete: 'cascade' }),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    /** SHA-256 digests of the session and refresh tokens; the tokens themselves are never stored. */
    sessionToken: varchar('session_token', { length: 255 }).notNull().unique(),
    refreshToken: varchar('refresh_token', { length: 255 }).notNull().unique(),
    expiresAt: ts('expires_at').notNull(),
    refreshExpiresAt: ts('refresh_expires_at').notNull(),
    ipAddress: inet('ip_address'),
    userAgent: text('user_agent'),
    isActive: boolean('is_active').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('idx_auth_sessions_user_id').on(t.userId),
    index('idx_auth_sessions_token').on(t.sessionToken),
    index('idx_auth_sessions_active').on(t.isActive),
    index('idx_auth_sessions_expires').on(t.expiresAt),
    index('idx_auth_sessions_tenant').on(t.tenantId),
  ],
);

export const authOauthProviders = pgTable(
  'auth_oauth_providers',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    providerName: varchar('provider_name', { length: 50 }).notNull(),
    clientId: varchar('client_id', { length: 255 }).notNull(),
    /** AES-256-GCM ciphertext. */
    encryptedClientSecret: text('encrypted_client_secret').notNull(),
    redirectUri: varchar('redirect_uri', { length: 500 }).notNull(),
    scopes: text('scopes').array().notNull().default(sql`ARRAY['openid', 'profile', 'email']`),
    isEnabled: boolean('is_enabled').notNull().default(true),
    createdAt: createdAt(),
  },
  (t) => [unique('uk_auth_oauth_tenant_provider').on(t.tenantId, t.providerName)],
);

export const authOauthConnections = pgTable(
  'auth_oauth_connections',
  {
    id: id(),
    // Not in the founding document: Row Level Security needs the tenant on every tenant-scoped row.
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => authUsers.id, { onDelete: 'cascade' }),
    providerId: uuid('provider_id').notNull().references(() => authOauthProviders.id, { onDelete: 'cascade' }),
    externalId: varchar('external_id', { length: 255 }).notNull(),
    externalEmail: varchar('external_email', { length: 255 }),
    externalUsername: varchar('external_username', { length: 255 }),
    /** AES-256-GCM ciphertexts. */
    accessToken: text('access_token'),
    refreshToken: text('refresh_token'),
    tokenExpiresAt: ts('token_expires_at'),
    lastUsedAt: ts('last_used_at'),
    createdAt: createdAt(),
  },
  (t) => [
    unique('uk_auth_oauth_provider_external').on(t.providerId, t.externalId),
    index('idx_auth_oauth_connections_user').on(t.userId),
  ],
);
