/**
 * Writes a batch of usage records in one transaction: spend on tokens and channels, conversation counters,
 * and chat_messages rows. Rows are aggregated first so each token, channel and conversation is touched once.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { actForTenant } from '../db/tenant.js';
import { chatMessages } from '../db/schema/index.js';
import type { UsageRecord } from './usage-record.js';

interface Spend {
  cost: number;
  lastUsed: string;
}

export async function writeUsageBatch(db: Db, records: readonly UsageRecord[]): Promise<void> {
  const byTenant = new Map<string, UsageRecord[]>();
  for (const r of records) {
    const list = byTenant.get(r.tenantId);
    if (list) list.push(r);
    else byTenant.set(r.tenantId, [r]);
  }
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    for (const [tenantId, list] of byTenant) {
      await actForTenant(t, tenantId);
      await addSpend(t, 'provider_tokens', sum(list, (r) => r.tokenId), true);
      await addSpend(t, 'provider_channels', sum(list, (r) => r.channelId), false);
      await upsertConversations(t, list);
      const rows = list.flatMap((r) =>
        (r.conversation?.messages ?? []).map((m, i) => ({
          tenantId,
          conversationId: r.conversation!.id,
          role: m.role,
          content: m.content,
          tokenCount: m.tokenCount,
          modelUsed: m.modelUsed ?? null,
          responseTimeMs: m.responseTimeMs ?? null,
          toolCalls: m.toolCalls ?? null,
          toolCallId: m.toolCallId ?? null,
          // Keeps the order of one request's messages when they share a timestamp.
          createdAt: new Date(Date.parse(r.at) + i),
        })),
      );
      for (let i = 0; i < rows.length; i += 1000) await t.insert(chatMessages).values(rows.slice(i, i + 1000));
    }
  });
}

function sum(list: readonly UsageRecord[], key: (r: UsageRecord) => string): Map<string, Spend> {
  const out = new Map<string, Spend>();
  for (const r of list) {
    const id = key(r);
    const s = out.get(id);
    if (s) {
      s.cost += r.cost;
      if (r.at > s.lastUsed) s.lastUsed = r.at;
    } else out.set(id, { cost: r.cost, lastUsed: r.at });
  }
  return out;
}

async function addSpend(db: Db, table: 'provider_tokens' | 'provider_channels', spend: Map<string, Spend>, touchLastUsed: boolean): Promise<void> {
  if (spend.size === 0) return;
  const values = sql.join(
    [...spend].map(([id, s]) => sql`(${id}::uuid, ${s.cost}::bigint, ${s.lastUsed}::timestamptz)`),
    sql`, `,
  );
  const lastUsed: SQL = touchLastUsed ? sql`, last_used_at = greatest(t.last_used_at, v.at)` : sql``;
  await db.execute(sql`update ${sql.identifier(table)} t set used_quota = t.used_quota + v.cost${lastUsed}
    from (values ${values}) as v(id, cost, at) where t.id = v.id`);
}

async function upsertConversations(db: Db, list: readonly UsageRecord[]): Promise<void> {
  const merged = new Map<string, { r: UsageRecord; messages: number; tokens: number; at: string }>();
  for (const r of list) {
    if (!r.conversation) continue;
    const m = merged.get(r.conversation.id);
    const tokens = r.promptTokens + r.completionTokens;
    if (m) {
      m.messages += r.conversation.messageCount;
      m.tokens += tokens;
      if (r.at >= m.at) {
        m.at = r.at;
        m.r = r;
      }
    } else merged.set(r.conversation.id, { r, messages: r.conversation.messageCount, tokens, at: r.at });
  }
  if (merged.size === 0) return;
  const values = sql.join(
    [...merged.values()].map(
      ({ r, messages, tokens, at }) =>
        sql`(${r.conversation!.id}::uuid, ${r.tenantId}::uuid, ${r.userId}::uuid, ${r.conversation!.title}, ${r.model}, ${r.channelId}::uuid, ${r.conversation!.systemPrompt}, ${messages}::int, ${tokens}::int, ${at}::timestamptz)`,
    ),
    sql`, `,
  );
  await db.execute(sql`insert into chat_conversations
      (id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, message_count, token_usage, created_at, updated_at)
    select id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, message_count, token_usage, at, at
      from (values ${values}) as v(id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, message_count, token_usage, at)
    on conflict (id) do update set
      message_count = chat_conversations.message_count + excluded.message_count,
      token_usage = chat_conversations.token_usage + excluded.token_usage,
      model_name = excluded.model_name,
      provider_channel_id = excluded.provider_channel_id,
      updated_at = greatest(chat_conversations.updated_at, excluded.updated_at)`);
}
