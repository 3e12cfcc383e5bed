/** What one served request leaves behind, queued in memory until the batch writer stores it. */
import { timeOrderedId } from '../time-ordered-id.js';
import type { StoredToolCall } from '../db/schema/chat-messages.js';

export interface RecordedMessage {
  role: string;
  content: string;
  tokenCount: number;
  toolCalls?: StoredToolCall[] | null;
  toolCallId?: string | null;
  modelUsed?: string | null;
  responseTimeMs?: number | null;
}

export interface UsageRecord {
  /**
   * Set when the batch it was written in failed for a reason worth retrying: that batch is retried as it was,
   * under this id, even after a spill to disk and a restart, so that one the database committed without the
   * reply reaching us is not written twice (migration 0009).
   */
  batchId?: string;
  tenantId: string;
  tokenId: string;
  userId: string;
  channelId: string;
  /** Quota units charged (tokens weighted by the model's ratio). */
  cost: number;
  promptTokens: number;
  completionTokens: number;
  model: string;
  at: string;
  conversation: {
    id: string;
    /** Only used when the conversation row does not exist yet. */
    title: string;
    /**
     * The conversation's row was in the database when the request began: its record never creates the row
     * again, so a conversation deleted while the request ran stays deleted. False for a new conversation, and
     * for one whose first record was still running or queued (it may be written after this one). Absent (a
     * record spilled by a release before it) counts as false.
     */
    existed?: boolean;
    systemPrompt: string | null;
    /**
     * The request's sampling temperature and its own completion cap; null where it set none (absent from a
     * record spilled by a release before them).
     */
    temperature?: number | null;
    maxTokens?: number | null;
    /** Messages to add (empty for embeddings, or when the tenant stores no content: counters only). */
    messages: RecordedMessage[];
    /** How many messages this request adds to message_count, stored or not. */
    messageCount: number;
  } | null;
}

/** A usage batch's id: time-ordered (UUIDv7), so the database forgets old ones by key range (migration 0009). */
export function newBatchId(): string {
  return timeOrderedId();
}
