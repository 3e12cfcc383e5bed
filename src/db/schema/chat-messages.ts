/**
 * chat_messages, range-partitioned by month on created_at. drizzle-kit cannot declare partitioning, so
 * the table is created by the custom migration drizzle/*_chat_messages_partitioned.sql and this file is
 * left out of drizzle.config.ts: it only gives queries their types.
 */
import { index, integer, jsonb, pgTable, primaryKey, text, uuid, varchar } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { ts } from './common.js';

export interface StoredToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
}

export const chatMessages = pgTable(
  'chat_messages',
  {
    id: uuid('id').notNull().default(sql`lyss_uuidv7()`),
    tenantId: uuid('tenant_id').notNull(),
    conversationId: uuid('conversation_id').notNull(),
    role: varchar('role', { length: 20 }).notNull(),
    content: text('content').notNull(),
    tokenCount: integer('token_count').notNull().default(0),
    modelUsed: varchar('model_used', { length: 100 }),
    responseTimeMs: integer('response_time_ms'),
    toolCalls: jsonb('tool_calls').$type<StoredToolCall[]>(),
    toolCallId: varchar('tool_call_id', { length: 100 }),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.id, t.createdAt] }), index('idx_messages_conversation').on(t.conversationId)],
);
