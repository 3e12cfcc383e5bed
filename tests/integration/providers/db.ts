/** Reads what the gateway left in the database, as the tenant (RLS applies). */
import { sql } from 'drizzle-orm';
import { queryRows } from '../../../src/db/client.js';
import { withTenant } from '../../../src/db/tenant.js';
import type { TestGateway } from '../../helpers/gateway.js';

export interface ChannelRow {
  id: string;
  name: string;
  status: number;
  status_reason: string | null;
  status_changed_at: Date | string | null;
  used_quota: number;
}

export interface MessageRow {
  role: string;
  content: string;
  token_count: number;
  model_used: string | null;
  tool_calls: { id: string; type: string; function: { name: string; arguments: string } }[] | null;
  tool_call_id: string | null;
}

export async function tenantIdOf(gw: TestGateway, slug = 'acme'): Promise<string> {
  const [row] = await queryRows<{ id: string }>(gw.deps.database.db, sql`select id from tenant_organizations where slug = ${slug}`);
  if (!row) throw new Error(`no tenant ${slug}`);
  return row.id;
}

export async function channelRow(gw: TestGateway, name: string): Promise<ChannelRow> {
  const tenant = await tenantIdOf(gw);
  const [row] = await withTenant(gw.deps.database.db, tenant, (tx) =>
    queryRows<ChannelRow>(tx, sql`select id, name, status, status_reason, status_changed_at, used_quota::int as used_quota from provider_channels where name = ${name}`),
  );
  if (!row) throw new Error(`no channel ${name}`);
  return row;
}

export async function tokenUsedQuota(gw: TestGateway, name = 'ci'): Promise<number> {
  const tenant = await tenantIdOf(gw);
  const [row] = await withTenant(gw.deps.database.db, tenant, (tx) =>
    queryRows<{ used: number }>(tx, sql`select used_quota::int as used from provider_tokens where name = ${name}`),
  );
  return row!.used;
}

export async function conversationMessages(gw: TestGateway, conversationId: string): Promise<MessageRow[]> {
  const tenant = await tenantIdOf(gw);
  return withTenant(gw.deps.database.db, tenant, (tx) =>
    queryRows<MessageRow>(
      tx,
      sql`select role, content, token_count, model_used, tool_calls, tool_call_id from chat_messages where conversation_id = ${conversationId} order by created_at`,
    ),
  );
}

export async function conversationRow(gw: TestGateway, conversationId: string): Promise<{ token_usage: number; message_count: number; model_name: string | null; provider_channel_id: string | null } | undefined> {
  const tenant = await tenantIdOf(gw);
  const [row] = await withTenant(gw.deps.database.db, tenant, (tx) =>
    queryRows<{ token_usage: number; message_count: number; model_name: string | null; provider_channel_id: string | null }>(
      tx,
      sql`select token_usage, message_count, model_name, provider_channel_id from chat_conversations where id = ${conversationId}`,
    ),
  );
  return row;
}

/** Lets answers already sent finish their bookkeeping and writes every queued usage record. */
export async function quiesce(gw: TestGateway): Promise<void> {
  await new Promise((r) => setTimeout(r, 30));
  await gw.deps.relay.usage.flush();
}
