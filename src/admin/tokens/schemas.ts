/** Tokens: request and response schemas. The full token appears once, in the create response. */
import { z } from 'zod';
import { id, int, isoDateTime, modelName, optionalText, pageQuery, quota, text, timestamp } from '../common-schemas.js';

export const tokenStatusNames = ['enabled', 'disabled', 'expired'] as const;
const settableStatus = z.enum(['enabled', 'disabled'], { error: 'must be enabled or disabled' });
const allowedModels = z.array(modelName).max(1000, 'must list at most 1000 models');
/** Channel ids; empty means every channel the token's user can reach. */
const allowedChannels = z.array(id()).max(1000, 'must list at most 1000 channels');

export const createTokenBody = z.strictObject({
  name: text(100),
  /** The owner; defaults to the caller. Admins only for anyone else. */
  user_id: id().optional(),
  allowed_models: allowedModels.default([]),
  allowed_channels: allowedChannels.default([]),
  /** Admins only; -1 is unlimited. */
  quota: quota().optional(),
  /** Requests per minute; admins only. */
  rate_limit: int(0).optional(),
  expires_at: isoDateTime.nullable().default(null),
});

export const updateTokenBody = z.strictObject({
  name: text(100).optional(),
  allowed_models: allowedModels.optional(),
  allowed_channels: allowedChannels.optional(),
  quota: quota().optional(),
  rate_limit: int(0).optional(),
  expires_at: isoDateTime.nullable().optional(),
  status: settableStatus.optional(),
});

export const listTokensQuery = z.strictObject({
  ...pageQuery,
  user_id: id().optional(),
  status: z.enum(tokenStatusNames, { error: `must be one of ${tokenStatusNames.join(', ')}` }).optional(),
  /** Matches the name. */
  q: optionalText(200).optional(),
});

export const tokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  user_id: z.string(),
  /** The non-secret start of the token, for recognising it. */
  key_prefix: z.string(),
  allowed_models: z.array(z.string()),
  allowed_channels: z.array(z.string()),
  quota: z.number().int(),
  used_quota: z.number().int(),
  rate_limit: z.number().int(),
  status: z.enum(tokenStatusNames),
  expires_at: timestamp.nullable(),
  last_used_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const createdTokenSchema = tokenSchema.extend({
  /** The full token. Shown only in this response; only its SHA-256 digest is stored. */
  key: z.string(),
});

export type TokenJson = z.infer<typeof tokenSchema>;
