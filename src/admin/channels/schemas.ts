/** Channels: request and response schemas. The provider key is write-only: responses carry a mask. */
import { z } from 'zod';
import { channelConfig, channelKey, channelModels, channelScope, modelMapping } from '../../input-fields.js';
import { httpUrl, id, int, INT32_MAX, modelName, optionalText, pageQuery, quota, text, timestamp } from '../common-schemas.js';

export const settableChannelStatuses = ['enabled', 'disabled'] as const;
const settableStatus = z.enum(settableChannelStatuses, { error: 'must be enabled or disabled' });
export const channelStatusNames = ['enabled', 'disabled', 'error'] as const;

const fields = {
  name: text(100),
  /** provider_types.name: openai, anthropic, deepseek, azure-openai, zhipu. */
  type: text(50),
  key: channelKey,
  models: channelModels,
  model_mapping: modelMapping,
  base_url: httpUrl.nullable(),
  priority: int(-INT32_MAX),
  weight: int(1),
  /** Requests per minute. */
  rate_limit: int(0),
  quota: quota(),
  scope: channelScope,
  group_id: id().nullable(),
  owner_id: id().nullable(),
  config: channelConfig,
  status: settableStatus,
};

export const createChannelBody = z.strictObject({
  name: fields.name,
  type: fields.type,
  key: fields.key,
  models: fields.models,
  model_mapping: fields.model_mapping.default({}),
  base_url: fields.base_url.default(null),
  priority: fields.priority.default(1),
  weight: fields.weight.default(1),
  rate_limit: fields.rate_limit.default(100),
  quota: fields.quota.default(-1),
  /** Default: personal for end users, tenant for admins. */
  scope: fields.scope.optional(),
  group_id: fields.group_id.optional(),
  owner_id: fields.owner_id.optional(),
  config: fields.config.default({}),
  status: fields.status.default('enabled'),
});

export const updateChannelBody = z.strictObject({
  name: fields.name.optional(),
  type: fields.type.optional(),
  key: fields.key.optional(),
  models: fields.models.optional(),
  model_mapping: fields.model_mapping.optional(),
  base_url: fields.base_url.optional(),
  priority: fields.priority.optional(),
  weight: fields.weight.optional(),
  rate_limit: fields.rate_limit.optional(),
  quota: fields.quota.optional(),
  scope: fields.scope.optional(),
  group_id: fields.group_id.optional(),
  owner_id: fields.owner_id.optional(),
  config: fields.config.optional(),
  status: fields.status.optional(),
});

export const listChannelsQuery = z.strictObject({
  ...pageQuery,
  scope: channelScope.optional(),
  status: z.enum(channelStatusNames, { error: `must be one of ${channelStatusNames.join(', ')}` }).optional(),
  owner_id: id().optional(),
  group_id: id().optional(),
  type: text(50).optional(),
  /** Matches the name. */
  q: optionalText(200).optional(),
});

export const channelSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  base_url: z.string().nullable(),
  /** The provider key, masked (`sk-...abcd`); null when it cannot be decrypted. The key itself is never returned. */
  key_masked: z.string().nullable(),
  models: z.array(z.string()),
  model_mapping: z.record(z.string(), z.string()),
  priority: z.number().int(),
  weight: z.number().int(),
  status: z.enum(channelStatusNames),
  status_reason: z.string().nullable(),
  status_changed_at: timestamp.nullable(),
  quota: z.number().int(),
  used_quota: z.number().int(),
  rate_limit: z.number().int(),
  scope: channelScope,
  owner_id: z.string().nullable(),
  group_id: z.string().nullable(),
  config: z.record(z.string(), z.unknown()),
  created_at: timestamp,
  updated_at: timestamp,
});

export const channelTestSchema = z.object({
  ok: z.boolean(),
  /** The upstream's HTTP status; null when no answer came. */
  status: z.number().int().nullable(),
  latency_ms: z.number().int(),
  model: z.string(),
  message: z.string(),
});

export type ChannelJson = z.infer<typeof channelSchema>;
export type ChannelTestResult = z.infer<typeof channelTestSchema>;
