/** chat_* tables: conversations and their summaries. chat_messages is in chat-messages.ts (partitioned). */
import { index, integer, pgTable, real, text, uuid, varchar } from 'drizzle-orm/pg-core';
import { createdAt, id, updatedAt } from './common.js';
import { tenantOrganizations } from './tenant.js';
import { authUsers } from './auth.js';
import { providerChannels } from './provider.js';

export const chatConversations = pgTable(
  'chat_conversations',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => authUsers.id, { onDelete: 'cascade' }),
    title: varchar('title', { length: 200 }).notNull(),
    modelName: varchar('model_name', { length: 100 }),
    providerChannelId: uuid('provider_channel_id').references(() => providerChannels.id, { onDelete: 'set null' }),
    systemPrompt: text('system_prompt'),
    temperature: real('temperature').default(0.7),
    maxTokens: integer('max_tokens').default(4000),
    status: varchar('status', { length: 20 }).notNull().default('active'),
    messageCount: integer('message_count').notNull().default(0),
    tokenUsage: integer('token_usage').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('idx_conversations_tenant_user').on(t.tenantId, t.userId),
    index('idx_conversations_status').on(t.status),
    index('idx_conversations_updated').on(t.tenantId, t.updatedAt),
  ],
);

export const chatConversationSummaries = pgTable(
  'chat_conversation_summaries',
  {
    id: id(),
    // Not in the founding document: Row Level Security needs the tenant on every tenant-scoped row.
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    conversationId: uuid('conversation_id').notNull().references(() => chatConversations.id, { onDelete: 'cascade' }),
    summaryText: text('summary_text').notNull(),
    summaryType: varchar('summary_type', { length: 20 }).notNull().default('auto'),
    createdAt: createdAt(),
  },
  (t) => [index('idx_summaries_conversation').on(t.conversationId), index('idx_summaries_tenant').on(t.tenantId)],
);
