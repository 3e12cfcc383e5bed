/** Conversations: request and response schemas. */
import { z } from 'zod';
import { id, optionalText, pageQuery, timestamp } from '../common-schemas.js';

export const conversationStatuses = ['active', 'archived'] as const;

export const listConversationsQuery = z.strictObject({
  ...pageQuery,
  user_id: id().optional(),
  status: z.enum(conversationStatuses, { error: `must be one of ${conversationStatuses.join(', ')}` }).optional(),
  /** Matches the title. */
  q: optionalText(200).optional(),
});

export const conversationSchema = z.object({
  id: z.string(),
  user_id: z.string(),
  title: z.string(),
  model_name: z.string().nullable(),
  provider_channel_id: z.string().nullable(),
  /** Of its latest request; null where that request set none. */
  temperature: z.number().nullable(),
  /** The latest request's own completion cap (max_completion_tokens, else max_tokens). */
  max_tokens: z.number().int().nullable(),
  status: z.string(),
  message_count: z.number().int(),
  token_usage: z.number().int(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const messageSchema = z.object({
  id: z.string(),
  role: z.string(),
  content: z.string(),
  token_count: z.number().int(),
  model_used: z.string().nullable(),
  response_time_ms: z.number().int().nullable(),
  tool_calls: z.array(z.object({ id: z.string(), type: z.string(), function: z.object({ name: z.string(), arguments: z.string() }) })).nullable(),
  tool_call_id: z.string().nullable(),
  created_at: timestamp,
});

export const conversationDetailSchema = conversationSchema.extend({
  /** Oldest first, at most `MESSAGE_LIMIT`. */
  messages: z.array(messageSchema),
  messages_truncated: z.boolean(),
});

export type ConversationJson = z.infer<typeof conversationSchema>;
export type MessageJson = z.infer<typeof messageSchema>;
