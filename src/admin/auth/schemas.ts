/** /auth: request and response schemas. */
import { z } from 'zod';
import { userRoles } from '../../db/schema/auth.js';
import { email, password, slug } from '../common-schemas.js';
import { userSchema } from '../users/schemas.js';

export const loginBody = z.strictObject({
  /** The tenant's slug (any letter case). */
  tenant: z.string().max(100, 'must be at most 100 characters').transform((v) => v.trim().toLowerCase()).pipe(slug),
  email,
  // Any length is checked against the hash; the bound only stops absurd inputs.
  password: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
});

export const refreshBody = z.strictObject({
  refresh_token: z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters'),
});

export const passwordBody = z.strictObject({
  current_password: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
  new_password: password,
});

export const tokenPairSchema = z.object({
  session_id: z.string(),
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int().describe('seconds'),
  refresh_expires_in: z.number().int().describe('seconds'),
});

export const loginResponse = tokenPairSchema.extend({
  user: z.object({ id: z.string(), tenant_id: z.string(), email: z.string(), role: z.enum(userRoles) }),
});

export const meSchema = z.object({
  user: userSchema,
  tenant: z.object({ id: z.string(), slug: z.string(), name: z.string(), status: z.string(), subscription_plan: z.string() }),
  session: z.object({ id: z.string() }),
});

export const passwordChanged = z.object({ ok: z.literal(true), revoked_sessions: z.number().int() });
