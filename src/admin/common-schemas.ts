/** zod building blocks every admin resource shares (ids, pagination, the error body), and the input fields it shares with LYSS_CONFIG. */
import { z } from 'zod';

export { email, httpUrl, int, INT32_MAX, isoDateTime, modelName, optionalText, password, quota, slug, text } from '../input-fields.js';
import { int } from '../input-fields.js';

// Any 8-4-4-4-12 hex id: a well-formed guess at an id is a 404, a malformed one a 400.
export const id = () => z.guid('must be a UUID');
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
