/** Users: request and response schemas. */
import { z } from 'zod';
import { userRoles } from '../../db/schema/auth.js';
import { email, optionalText, pageQuery, password, text, timestamp } from '../common-schemas.js';

export const userStatuses = ['active', 'inactive', 'suspended'] as const;
const role = z.enum(userRoles, { error: `must be one of ${userRoles.join(', ')}` });
const status = z.enum(userStatuses, { error: `must be one of ${userStatuses.join(', ')}` });

const profile = {
  username: text(100).nullable().optional(),
  first_name: optionalText(100).nullable().optional(),
  last_name: optionalText(100).nullable().optional(),
  full_name: optionalText(200).nullable().optional(),
  // Shown as an image by whatever UI reads it: never a javascript: or other scheme a page would run.
  avatar_url: optionalText(2048)
    .refine((v) => v === '' || (/^https?:\/\//i.test(v) && URL.canParse(v)) || /^data:image\/[a-z0-9.+-]+[;,]/i.test(v), 'must be an http(s) URL or a data:image URL')
    .nullable()
    .optional(),
};

export const createUserBody = z.strictObject({
  email,
  password,
  role: role.default('end_user'),
  ...profile,
});

export const updateUserBody = z.strictObject({
  email: email.optional(),
  password: password.optional(),
  role: role.optional(),
  status: status.optional(),
  ...profile,
});

/** What users may change about themselves (PATCH /auth/me): nothing that grants rights. */
export const updateProfileBody = z.strictObject({
  first_name: profile.first_name,
  last_name: profile.last_name,
  full_name: profile.full_name,
  avatar_url: profile.avatar_url,
});

export const listUsersQuery = z.strictObject({
  ...pageQuery,
  role: role.optional(),
  status: status.optional(),
  /** Matches email, username or full name. */
  q: optionalText(200).optional(),
});

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  username: z.string().nullable(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  full_name: z.string().nullable(),
  avatar_url: z.string().nullable(),
  role: role,
  status: z.string(),
  email_verified: z.boolean(),
  mfa_enabled: z.boolean(),
  last_login_at: timestamp.nullable(),
  locked_until: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export type UserJson = z.infer<typeof userSchema>;
