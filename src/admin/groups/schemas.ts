/** Groups and their members: request and response schemas. */
import { z } from 'zod';
import { id, optionalText, pageQuery, text, timestamp } from '../common-schemas.js';

export const memberRoles = ['admin', 'member'] as const;
const memberRole = z.enum(memberRoles, { error: `must be one of ${memberRoles.join(', ')}` });

export const createGroupBody = z.strictObject({
  name: text(100),
  description: optionalText(1000).nullable().optional(),
});

export const updateGroupBody = z.strictObject({
  name: text(100).optional(),
  description: optionalText(1000).nullable().optional(),
});

export const listGroupsQuery = z.strictObject({ ...pageQuery, q: optionalText(200).optional() });

export const groupSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  created_by: z.string().nullable(),
  member_count: z.number().int(),
  created_at: timestamp,
});

export const memberParams = z.strictObject({ id: id(), user_id: id() });
export const addMemberBody = z.strictObject({ user_id: id(), role: memberRole.default('member') });
export const updateMemberBody = z.strictObject({ role: memberRole });
export const listMembersQuery = z.strictObject({ ...pageQuery });

export const memberSchema = z.object({
  user_id: z.string(),
  email: z.string(),
  full_name: z.string().nullable(),
  role: memberRole,
  joined_at: timestamp,
});

export type GroupJson = z.infer<typeof groupSchema>;
export type MemberJson = z.infer<typeof memberSchema>;
