/** memory_* tables: users' long-term memories (after Mem0) and the links between them. */
import { index, integer, pgTable, real, text, unique, uuid, varchar } from 'drizzle-orm/pg-core';
import { createdAt, id, updatedAt } from './common.js';
import { tenantOrganizations } from './tenant.js';
import { authUsers } from './auth.js';

export const memoryUserMemories = pgTable(
  'memory_user_memories',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull().references(() => authUsers.id, { onDelete: 'cascade' }),
    memoryText: text('memory_text').notNull(),
    memoryHash: varchar('memory_hash', { length: 64 }).notNull(),
    embeddingId: varchar('embedding_id', { length: 255 }),
    relevanceScore: real('relevance_score').notNull().default(0),
    memoryType: varchar('memory_type', { length: 50 }).notNull().default('conversation'),
    memoryCategory: varchar('memory_category', { length: 50 }),
    sourceType: varchar('source_type', { length: 20 }).notNull().default('chat'),
    sourceId: uuid('source_id'),
    status: varchar('status', { length: 20 }).notNull().default('active'),
    importanceScore: integer('importance_score').notNull().default(50),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('uk_memories_tenant_user_hash').on(t.tenantId, t.userId, t.memoryHash),
    index('idx_memories_tenant_user').on(t.tenantId, t.userId),
    index('idx_memories_type').on(t.memoryType),
    index('idx_memories_status').on(t.status),
  ],
);

export const memoryAssociations = pgTable(
  'memory_associations',
  {
    id: id(),
    // Not in the founding document: Row Level Security needs the tenant on every tenant-scoped row.
    tenantId: uuid('tenant_id').notNull().references(() => tenantOrganizations.id, { onDelete: 'cascade' }),
    memoryId: uuid('memory_id').notNull().references(() => memoryUserMemories.id, { onDelete: 'cascade' }),
    relatedMemoryId: uuid('related_memory_id').notNull().references(() => memoryUserMemories.id, { onDelete: 'cascade' }),
    associationType: varchar('association_type', { length: 50 }).notNull().default('similar'),
    strength: real('strength').notNull().default(0.5),
    createdAt: createdAt(),
  },
  (t) => [unique('uk_memory_associations').on(t.memoryId, t.relatedMemoryId), index('idx_memory_assoc_tenant').on(t.tenantId)],
);
