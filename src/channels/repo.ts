/** Channel queries: a tenant's whole channel table (for the cache) and status changes (health). */
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { withTenant } from '../db/tenant.js';
import { providerChannels, providerTypes, tenantOrganizations } from '../db/schema/index.js';
import { ChannelStatus } from '../db/schema/provider.js';
import type { SecretBox } from '../crypto/secrets.js';
import type { Channel, WireFormat } from './channel.js';

export async function loadTenantChannels(db: Db, tenantId: string, secrets: SecretBox | null, onKeyError: (channelId: string, err: unknown) => void): Promise<Channel[]> {
  const rows = await withTenant(db, tenantId, (tx) =>
    tx
      .select({
        id: providerChannels.id,
        name: providerChannels.name,
        providerName: providerTypes.name,
        apiFormat: providerTypes.apiFormat,
        typeBaseUrl: providerTypes.baseUrl,
        baseUrl: providerChannels.baseUrl,
        key: providerChannels.key,
        priority: providerChannels.priority,
        weight: providerChannels.weight,
        status: providerChannels.status,
        quota: providerChannels.quota,
        usedQuota: providerChannels.usedQuota,
        rateLimit: providerChannels.rateLimit,
        scope: providerChannels.configScope,
        ownerId: providerChannels.ownerId,
        groupId: providerChannels.groupId,
        models: providerChannels.models,
        modelMapping: providerChannels.modelMapping,
        config: providerChannels.config,
        createdAt: providerChannels.createdAt,
      })
      .from(providerChannels)
      .innerJoin(providerTypes, eq(providerTypes.id, providerChannels.type)),
  );
  return rows.map((r) => {
    let apiKey: string | null = null;
    try {
      if (!secrets) throw new Error('no LYSS_SECRET_KEY configured');
      apiKey = secrets.open(r.key);
    } catch (err) {
      onKeyError(r.id, err);
    }
    return {
      id: r.id,
      tenantId,
      name: r.name,
      providerName: r.providerName,
      format: wireFormat(r.apiFormat),
      baseUrl: r.baseUrl ?? r.typeBaseUrl,
      apiKey,
      priority: r.priority,
      weight: r.weight,
      status: r.status,
      quota: r.quota,
      usedQuota: r.usedQuota,
      rateLimit: r.rateLimit,
      scope: r.scope,
      ownerId: r.ownerId,
      groupId: r.groupId,
      models: new Set(r.models),
      modelMapping: r.modelMapping,
      config: r.config,
      createdAt: r.createdAt.getTime(),
    };
  });
}

function wireFormat(apiFormat: string): WireFormat {
  return apiFormat === 'anthropic' ? 'anthropic' : apiFormat === 'azure' ? 'azure' : 'openai';
}

/** Sets a channel's status with the reason and time (health checks, admin enable/disable). */
export async function setChannelStatus(db: Db, tenantId: string, channelId: string, status: number, reason: string | null): Promise<void> {
  await withTenant(db, tenantId, (tx) =>
    tx
      .update(providerChannels)
      .set({ status, statusReason: reason, statusChangedAt: new Date(), updatedAt: new Date() })
      .where(eq(providerChannels.id, channelId)),
  );
}

/**
 * Health's status 3, only over status 1: a channel an admin disabled (2) while a request was in flight
 * stays disabled, and the probe, which re-enables only status 3, never touches it.
 */
export async function markChannelError(db: Db, tenantId: string, channelId: string, reason: string): Promise<boolean> {
  const rows = await withTenant(db, tenantId, (tx) =>
    tx
      .update(providerChannels)
      .set({ status: ChannelStatus.error, statusReason: reason, statusChangedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(providerChannels.id, channelId), eq(providerChannels.status, ChannelStatus.enabled)))
      .returning({ id: providerChannels.id }),
  );
  return rows.length > 0;
}

/** The probe's way back from status 3 to 1; false when the channel is no longer in status 3. */
export async function reenableChannel(db: Db, tenantId: string, channelId: string, reason: string): Promise<boolean> {
  const rows = await withTenant(db, tenantId, (tx) =>
    tx
      .update(providerChannels)
      .set({ status: ChannelStatus.enabled, statusReason: reason, statusChangedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(providerChannels.id, channelId), eq(providerChannels.status, ChannelStatus.error)))
      .returning({ id: providerChannels.id }),
  );
  return rows.length > 0;
}

/** Ids of the active tenants (tenant_organizations has no RLS), for jobs that visit every tenant. */
export async function listActiveTenantIds(db: Db): Promise<string[]> {
  const rows = await db.select({ id: tenantOrganizations.id }).from(tenantOrganizations).where(eq(tenantOrganizations.status, 'active'));
  return rows.map((r) => r.id);
}
