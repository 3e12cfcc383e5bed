/**
 * Writes a batch of usage records in one transaction: spend on tokens and channels, conversation counters,
 * and chat_messages rows. Rows are aggregated first so each token, channel and conversation is touched once,
 * and each statement takes its rows as one JSON parameter: building a many-row insert value by value in a
 * query builder cost the relay's event loop a fifth of its CPU under load. The parameter is json, not jsonb,
 * which PostgreSQL would first build as a binary document (sorting every object's keys) only to read it back.
 *
 * A batch that fails is retried as a whole, so nothing in it may fail for a reason that retrying cannot fix:
 * text is cleaned to what PostgreSQL stores (no NUL characters, varchar lengths), and rows that point at a
 * channel or user deleted since the request are written without that link (or, for a deleted user, without
 * the conversation) instead of violating a foreign key.
 */
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Db } from '../db/client.js';
import { actForTenant } from '../db/tenant.js';
import type { StoredToolCall } from '../db/schema/chat-messages.js';
import type { UsageRecord } from './usage-record.js';

interface Spend {
  cost: number;
  lastUsed: string;
}

/** Column widths of chat_conversations and chat_messages (varchar(n) counts characters). */
const WIDTH = { title: 200, model: 100, role: 20, toolCallId: 100 } as const;

export async function writeUsageBatch(db: Db, records: readonly UsageRecord[]): Promise<void> {
  const byTenant = new Map<string, UsageRecord[]>();
  for (const r of records) {
    const list = byTenant.get(r.tenantId);
    if (list) list.push(r);
    else byTenant.set(r.tenantId, [r]);
  }
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    // Tenants, and within each the rows, are locked in one order (ids ascending) by every writer: two processes
    // flushing at once then wait for each other instead of deadlocking.
    for (const [tenantId, list] of [...byTenant].sort(([a], [b]) => (a < b ? -1 : 1))) {
      await actForTenant(t, tenantId);
      await addSpend(t, 'provider_tokens', sum(list, (r) => r.tokenId), true);
      await addSpend(t, 'provider_channels', sum(list, (r) => r.channelId), false);
      const stored = await upsertConversations(t, list);
      const rows = list.flatMap((r) =>
        r.conversation && stored.has(r.conversation.id)
          ? r.conversation.messages.map((m, i) => ({
              conversation_id: r.conversation!.id,
              role: clip(m.role, WIDTH.role),
              content: text(m.content),
              token_count: m.tokenCount,
              model_used: m.modelUsed ? clip(m.modelUsed, WIDTH.model) : null,
              response_time_ms: m.responseTimeMs ?? null,
              tool_calls: m.toolCalls ? toolCalls(m.toolCalls) : null,
              tool_call_id: m.toolCallId ? clip(m.toolCallId, WIDTH.toolCallId) : null,
              // Keeps the order of one request's messages when they share a timestamp.
              created_at: new Date(Date.parse(r.at) + i).toISOString(),
            }))
          : [],
      );
      if (rows.length > 0) {
        await t.execute(sql`insert into chat_messages
            (tenant_id, conversation_id, role, content, token_count, model_used, response_time_ms, tool_calls, tool_call_id, created_at)
          select ${tenantId}::uuid, v.conversation_id, v.role, v.content, v.token_count, v.model_used, v.response_time_ms, v.tool_calls, v.tool_call_id, v.created_at
            from json_to_recordset(${JSON.stringify(rows)}::json) as v(conversation_id uuid, role text, content text, token_count int,
              model_used text, response_time_ms int, tool_calls jsonb, tool_call_id text, created_at timestamptz)`);
      }
    }
  });
}

/** PostgreSQL text cannot hold NUL (U+0000), in text columns or in jsonb strings. */
function text(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
}

/** At most `width` characters (code points, as varchar counts them), NUL-free. */
function clip(value: string, width: number): string {
  const clean = text(value);
  if (clean.length <= width) return clean;
  return Array.from(clean).slice(0, width).join('');
}

function toolCalls(calls: StoredToolCall[]): StoredToolCall[] {
  const json = JSON.stringify(calls);
  return json.includes('\\u0000') ? (JSON.parse(json.replaceAll('\\u0000', '')) as StoredToolCall[]) : calls;
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
  const values = JSON.stringify([...spend].map(([id, s]) => ({ id, cost: s.cost, at: s.lastUsed })));
  const lastUsed: SQL = touchLastUsed ? sql`, last_used_at = greatest(t.last_used_at, v.at)` : sql``;
  await db.execute(sql`with v as (select * from json_to_recordset(${values}::json) as v(id uuid, cost bigint, at timestamptz)),
    locked as materialized (select t.id from ${sql.identifier(table)} t join v on v.id = t.id order by t.id for no key update of t)
    update ${sql.identifier(table)} t set used_quota = t.used_quota + v.cost${lastUsed}
    from v join locked on locked.id = v.id where t.id = v.id`);
}

/** Creates or updates each conversation; returns the ids that exist afterwards (messages may go there). */
async function upsertConversations(db: Db, list: readonly UsageRecord[]): Promise<Set<string>> {
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
  if (merged.size === 0) return new Set();
  const values = JSON.stringify(
    [...merged.values()].map(({ r, messages, tokens, at }) => {
      const c = r.conversation!;
      return {
        id: c.id,
        tenant_id: r.tenantId,
        user_id: r.userId,
        title: clip(c.title, WIDTH.title),
        model_name: clip(r.model, WIDTH.model),
        provider_channel_id: r.channelId,
        system_prompt: c.systemPrompt === null ? null : text(c.systemPrompt),
        message_count: messages,
        token_usage: tokens,
        at,
      };
    }),
  );
  // A channel deleted since the request leaves the conversation without one (as ON DELETE SET NULL would);
  // a user deleted since then took their conversations with them, so theirs is not recreated. The int
  // counters saturate rather than overflow (an overflow would fail the batch on every retry).
  const rows = await queryRows<{ id: string }>(
    db,
    sql`insert into chat_conversations
      (id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, message_count, token_usage, created_at, updated_at)
    select v.id, v.tenant_id, v.user_id, v.title, v.model_name, c.id, v.system_prompt,
      least(v.message_count, 2147483647), least(v.token_usage, 2147483647), v.at, v.at
      from json_to_recordset(${values}::json) as v(id uuid, tenant_id uuid, user_id uuid, title text, model_name text,
        provider_channel_id uuid, system_prompt text, message_count bigint, token_usage bigint, at timestamptz)
      join auth_users u on u.id = v.user_id
      left join provider_channels c on c.id = v.provider_channel_id
      order by v.id
    on conflict (id) do update set
      message_count = least(chat_conversations.message_count::bigint + excluded.message_count, 2147483647),
      token_usage = least(chat_conversations.token_usage::bigint + excluded.token_usage, 2147483647),
      model_name = excluded.model_name,
      provider_channel_id = excluded.provider_channel_id,
      updated_at = greatest(chat_conversations.updated_at, excluded.updated_at)
    returning id`,
  );
  return new Set(rows.map((row) => row.id));
}
