/**
 * zod building blocks for what people type, shared by the admin API's bodies and the LYSS_CONFIG file so that
 * both accept exactly the same values.
 */
import { z } from 'zod';
import type { ConfigScope } from './db/schema/provider.js';

export const INT32_MAX = 2_147_483_647;

export const text = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
export const optionalText = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`);
// Range before integrality: zod's int() also refuses unsafe integers, and "must be at most" says why.
export const int = (min: number, max = INT32_MAX) =>
  z.number({ error: 'must be an integer' }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).int('must be an integer');
/** -1 means unlimited (quota columns are bigint). */
export const quota = () => int(-1, Number.MAX_SAFE_INTEGER);
export const email = z
  .email('must be an email address')
  .max(255, 'must be at most 255 characters')
  .transform((v) => v.toLowerCase());
export const password = z.string().min(12, 'must be at least 12 characters').max(1024, 'must be at most 1024 characters');
export const slug = z
  .string()
  .max(100, 'must be at most 100 characters')
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'must be lowercase letters, digits and inner hyphens');
/** A URL of one of these protocols (`'https:'`) with a host. */
export function isUrlWith(value: string, protocols: readonly string[]): boolean {
  try {
    const u = new URL(value);
    return protocols.includes(u.protocol) && u.hostname !== '';
  } catch {
    return false;
  }
}
export const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine((v) => isUrlWith(v, ['http:', 'https:']), 'must be an http:// or https:// URL');
export const isoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2030-01-31T00:00:00Z' });
export const modelName = text(200);

// Channels
export const channelScopes = ['tenant', 'group', 'personal'] as const satisfies readonly ConfigScope[];
export const channelScope = z.enum(channelScopes, { error: `must be one of ${channelScopes.join(', ')}` });
export const channelKey = z.string().min(1, 'must not be empty').max(8192, 'must be at most 8192 characters');
export const channelModels = z.array(modelName).min(1, 'must list at least one model').max(1000, 'must list at most 1000 models');
export const modelMapping = z
  .record(modelName, modelName)
  .refine((m) => Object.keys(m).length <= 1000, 'must map at most 1000 models');
// Adapter options are flat scalars (e.g. { api_version: "2024-10-21" } for azure-openai).
const configValue = z.union([z.string().max(1000, 'must be at most 1000 characters'), z.number(), z.boolean(), z.null()], {
  error: 'must be a string, number, boolean or null',
});
export const channelConfig = z
  .record(text(100), configValue)
  .refine((m) => Object.keys(m).length <= 50, 'must have at most 50 options');

