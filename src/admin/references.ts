/**
 * Checks that ids named in a request body belong to the tenant. Foreign keys alone would not do: PostgreSQL
 * checks them past Row Level Security, so another tenant's id would satisfy them. These selects run inside
 * the tenant's transaction and see only its rows, so another tenant's id is simply not found (404).
 */
import { eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { authUsers, providerChannels, tenantUserGroups } from '../db/schema/index.js';
import { GatewayError } from '../errors.js';

export async function requireUser(tx: Db, id: string, param: string): Promise<{ id: string }> {
  const [row] = await tx.select({ id: authUsers.id }).from(authUsers).where(eq(authUsers.id, id));
  if (!row) throw new GatewayError('not_found', `${param}: no user with this id`, { param });
  return row;
}

export async function requireGroup(tx: Db, id: string, param: string): Promise<{ id: string }> {
  const [row] = await tx.select({ id: tenantUserGroups.id }).from(tenantUserGroups).where(eq(tenantUserGroups.id, id));
  if (!row) throw new GatewayError('not_found', `${param}: no group with this id`, { param });
  return row;
}

export async function requireChannels(tx: Db, ids: readonly string[], param: string): Promise<void> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return;
  const rows = await tx.select({ id: providerChannels.id }).from(providerChannels).where(inArray(providerChannels.id, unique));
  const found = new Set(rows.map((r) => r.id));
  const missing = ids.findIndex((id) => !found.has(id));
  if (missing >= 0) throw new GatewayError('not_found', `${param}[${missing}]: no channel with this id`, { param: `${param}[${missing}]` });
}
