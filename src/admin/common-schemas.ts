/** zod building blocks shared by every admin resource: bounded text, ids, pagination, the error body. */
import { z } from 'zod';

export const INT32_MAX = 2_147_483_647;

export const text = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
export const optionalText = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`);
// Range before integrality: zod's int() also refuses unsafe integers, and "must be at most" says why.
export const int = (min: number, max = INT32_MAX) =>
  z.number({ error: 'must be an integer' }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).int('must be an integer');
/** -1 means unlimited (quota columns are bigint). */
export const quota = () => int(-1, Number.MAX_SAFE_INTEGER);
// Any 8-4-4-4-12 hex id: a well-formed guess at an id is a 404, a malformed one a 400.
export const id = () => z.guid('must be a UUID');
export const email = z
  .email('must be an email address')
  .max(255, 'must be at most 255 characters')
  .transform((v) => v.toLowerCase());
export const password = z.string().min(12, 'must be at least 12 characters').max(1024, 'must be at most 1024 characters');
export const slug = z
  .string()
  .max(100, 'must be at most 100 characters')
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'must be lowercase letters, digits and inner hyphens');
export const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');
export const isoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2030-01-31T00:00:00Z' });
export const modelName = text(200);
export const timestamp = z.string().describe('ISO 8601 date-time');

export const idParams = z.strictObject({ id: id() });

/** Query string numbers arrive as text: plain decimal digits only (no `0x10`, `1e1`, blanks). */
const queryInt = (min: number, max: number, def: number) =>
  z
    .string({ error: 'must be an integer' })
    .regex(/^[0-9]+$/, 'must be an integer')
    .transform(Number)
    .pipe(int(min, max))
    .default(def);

export const pageQuery = {
  page: queryInt(1, 1_000_000, 1),
  per_page: queryInt(1, 100, 20),
};

export const emptyQuery = z.strictObject({});

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), page: z.number().int(), per_page: z.number().int(), total: z.number().int() });
}

export interface Page<T> {
  data: T[];
  page: number;
  per_page: number;
  total: number;
}

export const okSchema = z.object({ ok: z.literal(true) });

export const errorSchema = z.object({
  error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string() }),
});
