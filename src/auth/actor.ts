/** Who an admin request acts as (the session's user, tenant and role) and the role checks on it. */
import type { UserRole } from '../db/schema/auth.js';
import { GatewayError } from '../errors.js';

export interface Actor {
  sessionId: string;
  userId: string;
  /** The actor's own tenant (a super admin may act for another through the /tenants/{tenant_id}/... routes). */
  tenantId: string;
  role: UserRole;
  email: string;
}

export const ALL_ROLES = ['super_admin', 'tenant_admin', 'end_user'] as const satisfies readonly UserRole[];
export const ADMIN_ROLES = ['super_admin', 'tenant_admin'] as const satisfies readonly UserRole[];
export const SUPER_ADMIN_ONLY = ['super_admin'] as const satisfies readonly UserRole[];

/** Tenant admins manage their tenant; super admins manage any tenant they act for. */
export function isAdmin(actor: Actor): boolean {
  return actor.role === 'super_admin' || actor.role === 'tenant_admin';
}

export function assertRole(actor: Actor, roles: readonly UserRole[]): void {
  if (!roles.includes(actor.role)) {
    throw new GatewayError('forbidden', `This action requires the role ${roles.join(' or ')}.`);
  }
}
