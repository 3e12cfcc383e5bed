/** Queries the token cache needs: the cross-tenant lookup by digest, then the user and tenant behind it. */
import { and, eq } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../db/client.js';
import { withTenant } from '../db/tenant.js';
import { authUsers, tenantOrganizations, tenantUserGroupMembers } from '../db/schema/index.js';
import type { Principal } from './principal.js';
import type { UserRole } from '../db/schema/auth.js';

interface TokenRow {
  id: string;
  tenant_id: string;
  user_id: string;
  name: string;
  allowed_channels: string[];
  allowed_models: string[];
  quota: string | number;
  used_quota: string | number;
  rate_limit: number;
  status: number;
  expires_at: string | Date | null;
}

/** The principal behind a token digest, or null when no token has it. */
export async function loadPrincipal(db: Db, digest: string): Promise<Principal | null> {
  const [token] = await queryRows<TokenRow>(
    db,
    sql`select id, tenant_id, user_id, name, allowed_channels, allowed_models, quota, used_quota, rate_limit, status, expires_at
        from lyss_find_token(${digest})`,
  );
  if (!token) return null;
  return withTenant(db, token.tenant_id, async (tx) => {
    const [user] = await tx
      .select({ role: authUsers.role, status: authUsers.status, isActive: authUsers.isActive })
      .from(authUsers)
      .where(eq(authUsers.id, token.user_id));
    const groups = await tx
      .select({ groupId: tenantUserGroupMembers.groupId })
      .from(tenantUserGroupMembers)
      .where(and(eq(tenantUserGroupMembers.userId, token.user_id)));
    const [tenant] = await tx
      .select({ status: tenantOrganizations.status, settings: tenantOrganizations.settings })
      .from(tenantOrganizations)
      .where(eq(tenantOrganizations.id, token.tenant_id));
    return {
      tokenId: token.id,
      tokenName: token.name,
      tenantId: token.tenant_id,
      userId: token.user_id,
      allowedModels: new Set(token.allowed_models ?? []),
      allowedChannels: new Set(token.allowed_channels ?? []),
      quota: Number(token.quota),
      usedQuota: Number(token.used_quota),
      rateLimit: token.rate_limit,
      status: token.status,
      expiresAt: token.expires_at ? new Date(token.expires_at).getTime() : null,
      user: {
        role: (user?.role ?? 'end_user') as UserRole,
        active: !!user && user.isActive && user.status === 'active',
        groupIds: new Set(groups.map((g) => g.groupId)),
      },
      tenant: {
        active: tenant?.status === 'active',
        storeContent: tenant?.settings?.store_content !== false,
      },
    };
  });
}
