/** Tenants: request and response schemas. */
import { z } from 'zod';
import { int, optionalText, pageQuery, slug, text, timestamp } from '../common-schemas.js';

const settings = z.strictObject({
  /** false: usage counters are recorded, message content is not. */
  store_content: z.boolean({ error: 'must be a boolean' }).optional(),
});

export const tenantStatuses = ['active', 'suspended', 'inactive'] as const;

export const createTenantBody = z.strictObject({
  slug,
  name: text(255),
  subscription_plan: text(50).default('basic'),
  max_users: int(1).default(10),
  settings: settings.default({}),
});

export const updateTenantBody = z.strictObject({
  name: text(255).optional(),
  subscription_plan: text(50).optional(),
  max_users: int(1).optional(),
  /** Merged into the current settings. */
  settings: settings.optional(),
});

export const listTenantsQuery = z.strictObject({
  ...pageQuery,
  status: z.enum(tenantStatuses, { error: `must be one of ${tenantStatuses.join(', ')}` }).optional(),
  /** Matches slug or name. */
  q: optionalText(200).optional(),
});

export const tenantSchema = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  status: z.enum(tenantStatuses),
  subscription_plan: z.string(),
  max_users: z.number().int(),
  settings: z.record(z.string(), z.unknown()),
  created_at: timestamp,
  updated_at: timestamp,
});

export const tenantDetailSchema = tenantSchema.extend({ active_users: z.number().int() });

export type TenantJson = z.infer<typeof tenantSchema>;
