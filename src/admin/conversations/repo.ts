/** chat_conversations and chat_messages queries for the admin API (inside the tenant's transaction). */
import { and, asc, count, desc, eq, ilike, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { chatConversations, chatMessages, type StoredToolCall } from '../../db/schema/index.js';
import { CHANGES_CHANNEL } from '../../cache/invalidation.js';
import { bounds, likePattern, type PageQuery } from '../pagination.js';
import type { ConversationJson, MessageJson } from './schemas.js';

const c = chatConversations;
const m = chatMessages;
const columns = {
  id: c.id,
  userId: c.userId,
  title: c.title,
  modelName: c.modelName,
  providerChannelId: c.providerChannelId,
  temperature: c.temperature,
  maxTokens: c.maxTokens,
  status: c.status,
  messageCount: c.messageCount,
  tokenUsage: c.tokenUsage,
  createdAt: c.createdAt,
  updatedAt: c.updatedAt,
};

export interface ConversationRow {
  id: string;
  userId: string;
  title: string;
  modelName: string | null;
  providerChannelId: string | null;
  temperature: number | null;
  maxTokens: number | null;
  status: string;
  messageCount: number;
  tokenUsage: number;
  createdAt: Date;
  updatedAt: Date;
}

export function conversationJson(r: ConversationRow): ConversationJson {
  return {
    id: r.id,
    user_id: r.userId,
    title: r.title,
    model_name: r.modelName,
    provider_channel_id: r.providerChannelId,
    temperature: r.temperature,
    max_tokens: r.maxTokens,
    status: r.status,
    message_count: r.messageCount,
    token_usage: r.tokenUsage,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export interface ConversationFilter {
  userId?: string;
  status?: string;
  q?: string;
}

function conditions(f: ConversationFilter): SQL | undefined {
  return and(
    f.userId ? eq(c.userId, f.userId) : undefined,
    f.status ? eq(c.status, f.status) : undefined,
    f.q ? ilike(c.title, likePattern(f.q)) : undefined,
  );
}

export async function listConversations(tx: Db, f: ConversationFilter, page: PageQuery): Promise<{ rows: ConversationRow[]; total: number }> {
  const where = conditions(f);
  const { limit, offset } = bounds(page);
  const rows = await tx.select(columns).from(c).where(where).orderBy(desc(c.updatedAt), asc(c.id)).limit(limit).offset(offset);
  const [total] = await tx.select({ n: count() }).from(c).where(where);
  return { rows, total: Number(total?.n ?? 0) };
}

export async function getConversation(tx: Db, id: string, f: ConversationFilter = {}): Promise<ConversationRow | null> {
  const [row] = await tx.select(columns).from(c).where(and(eq(c.id, id), conditions(f)));
  return row ?? null;
}

export function messageJson(r: {
  id: string;
  role: string;
  content: string;
  tokenCount: number;
  modelUsed: string | null;
  responseTimeMs: number | null;
  toolCalls: StoredToolCall[] | null;
  toolCallId: string | null;
  createdAt: Date;
}): MessageJson {
  return {
    id: r.id,
    role: r.role,
    content: r.content,
    token_count: r.tokenCount,
    model_used: r.modelUsed,
    response_time_ms: r.responseTimeMs,
    tool_calls: r.toolCalls,
    tool_call_id: r.toolCallId,
    created_at: r.createdAt.toISOString(),
  };
}

/** The first `limit` messages, oldest first; one more is read to tell whether there are more. */
export async function conversationMessages(tx: Db, conversationId: string, limit: number): Promise<{ messages: MessageJson[]; truncated: boolean }> {
  const rows = await tx
    .select({
      id: m.id,
      role: m.role,
      content: m.content,
      tokenCount: m.tokenCount,
      modelUsed: m.modelUsed,
      responseTimeMs: m.responseTimeMs,
      toolCalls: m.toolCalls,
      toolCallId: m.toolCallId,
      createdAt: m.createdAt,
    })
    .from(m)
    .where(eq(m.conversationId, conversationId))
    .orderBy(asc(m.createdAt), asc(m.id))
    .limit(limit + 1);
  return { messages: rows.slice(0, limit).map(messageJson), truncated: rows.length > limit };
}

export async function setConversationStatus(tx: Db, id: string, status: string): Promise<ConversationRow | null> {
  const [row] = await tx.update(c).set({ status, updatedAt: sql`now()` }).where(eq(c.id, id)).returning(columns);
  return row ?? null;
}

/**
 * Deletes the conversation and its messages (chat_messages is partitioned and has no foreign key, so
 * they go explicitly), then notifies every instance: the relay caches which conversation ids exist.
 */
export async function deleteConversation(tx: Db, tenantId: string, id: string): Promise<boolean> {
  await tx.delete(m).where(eq(m.conversationId, id)).returning({ id: m.id });
  const rows = await tx.delete(c).where(eq(c.id, id)).returning({ id: c.id });
  if (rows.length === 1) await tx.execute(sql`select pg_notify(${CHANGES_CHANNEL}, ${tenantId})`);
  return rows.length === 1;
}
