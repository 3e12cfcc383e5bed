/**
 * Usage aggregates. Per day, channel, model and user they come from chat_messages (partition-pruned by
 * created_at) joined to their conversation; per token from provider_tokens.used_quota, since messages do
 * not record the token that paid for them. Runs inside the tenant's transaction.
 */
import { and, desc, eq, sql, type SQL } from 'drizzle-orm';
import { queryRows, type Db } from '../../db/client.js';
import { providerTokens } from '../../db/schema/index.js';
import type { UsageRow } from './schemas.js';

export interface UsageFilter {
  from: Date;
  to: Date;
  userId?: string;
  channelId?: string;
  model?: string;
}

type MessageGroup = 'day' | 'channel' | 'model' | 'user';

const keys: Record<MessageGroup, { key: SQL; label: SQL; join: SQL }> = {
  day: { key: sql`to_char(m.created_at at time zone 'UTC', 'YYYY-MM-DD')`, label: sql`null::text`, join: sql`` },
  model: { key: sql`coalesce(m.model_used, c.model_name)`, label: sql`null::text`, join: sql`` },
  channel: { key: sql`c.provider_channel_id::text`, label: sql`ch.name`, join: sql`left join provider_channels ch on ch.id = c.provider_channel_id` },
  user: { key: sql`c.user_id::text`, label: sql`u.email`, join: sql`left join auth_users u on u.id = c.user_id` },
};

interface RawRow {
  key: string | null;
  label: string | null;
  tokens: string | number;
  messages: string | number;
  conversations: string | number;
}

export async function messageUsage(tx: Db, group: MessageGroup, f: UsageFilter): Promise<UsageRow[]> {
  const k = keys[group];
  const conditions = [
    sql`m.created_at >= ${f.from.toISOString()}::timestamptz`,
    sql`m.created_at < ${f.to.toISOString()}::timestamptz`,
    f.userId ? sql`c.user_id = ${f.userId}::uuid` : undefined,
    f.channelId ? sql`c.provider_channel_id = ${f.channelId}::uuid` : undefined,
    f.model ? sql`coalesce(m.model_used, c.model_name) = ${f.model}` : undefined,
  ].filter((s): s is SQL => s !== undefined);
  const rows = await queryRows<RawRow>(
    tx,
    sql`select ${k.key} as key, ${k.label} as label, coalesce(sum(m.token_count), 0)::bigint as tokens,
          count(*)::bigint as messages, count(distinct m.conversation_id)::bigint as conversations
        from chat_messages m
        join chat_conversations c on c.id = m.conversation_id
        ${k.join}
        where ${sql.join(conditions, sql` and `)}
        group by 1, 2
        order by 1 nulls last`,
  );
  return rows.map((r) => ({ key: r.key, label: r.label, tokens: Number(r.tokens), messages: Number(r.messages), conversations: Number(r.conversations) }));
}

export async function tokenUsage(tx: Db, f: { userId?: string }): Promise<UsageRow[]> {
  const k = providerTokens;
  const rows = await tx
    .select({ id: k.id, name: k.name, usedQuota: k.usedQuota })
    .from(k)
    .where(and(f.userId ? eq(k.userId, f.userId) : undefined))
    .orderBy(desc(k.usedQuota), k.name);
  return rows.map((r) => ({ key: r.id, label: r.name, tokens: r.usedQuota, messages: null, conversations: null }));
}
