/** Usage: the aggregate query and its answer. */
import { z } from 'zod';
import { id, isoDateTime, modelName, timestamp } from '../common-schemas.js';

export const usageGroups = ['day', 'token', 'channel', 'model', 'user'] as const;

export const usageQuery = z.strictObject({
  group_by: z.enum(usageGroups, { error: `must be one of ${usageGroups.join(', ')}` }).default('day'),
  /** Inclusive; default 30 days before `to`. */
  from: isoDateTime.optional(),
  /** Exclusive; default now. */
  to: isoDateTime.optional(),
  user_id: id().optional(),
  channel_id: id().optional(),
  model: modelName.optional(),
});

export const usageRowSchema = z.object({
  /** The day (YYYY-MM-DD, UTC), token id, channel id, model name or user id; null when unknown (a deleted channel). */
  key: z.string().nullable(),
  /** Token or channel name, or user email, where there is one. */
  label: z.string().nullable(),
  /** Tokens counted on stored messages; for group_by=token, quota units spent by the token over its lifetime. */
  tokens: z.number().int(),
  /** Stored messages (null for group_by=token). */
  messages: z.number().int().nullable(),
  /** Distinct conversations (null for group_by=token). */
  conversations: z.number().int().nullable(),
});

export const usageSchema = z.object({
  group_by: z.enum(usageGroups),
  from: timestamp,
  to: timestamp,
  /** chat_messages (day, channel, model, user) or provider_tokens (token, lifetime totals: the range does not apply). */
  source: z.enum(['chat_messages', 'provider_tokens']),
  data: z.array(usageRowSchema),
});

export type UsageRow = z.infer<typeof usageRowSchema>;
