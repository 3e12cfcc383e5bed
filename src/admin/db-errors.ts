/**
 * PostgreSQL errors a request can provoke, as client errors: a unique clash is a 409 naming the field,
 * bad values are 400s, and a Row Level Security refusal is a 403. Anything else stays a 500.
 */
import { GatewayError } from '../errors.js';

interface PgLikeError {
  code: string;
  constraint?: string;
  constraint_name?: string;
}

/** Unique constraints -> the request field that clashed. */
const UNIQUE_FIELDS: Record<string, string> = {
  tenant_organizations_slug_unique: 'slug',
  uk_auth_users_tenant_email: 'email',
  uk_auth_users_tenant_username: 'username',
  uk_tenant_user_groups_tenant_name: 'name',
  uk_tenant_group_members: 'user_id',
  uk_provider_channels_tenant_name: 'name',
};

/** drizzle wraps driver errors (DrizzleQueryError.cause); postgres.js and PGlite both carry a SQLSTATE `code`. */
function pgErrorOf(err: unknown): PgLikeError | null {
  let node: unknown = err;
  for (let depth = 0; depth < 5 && node && typeof node === 'object'; depth++) {
    const code = (node as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return node as PgLikeError;
    node = (node as { cause?: unknown }).cause;
  }
  return null;
}

export function translateDbError(err: unknown): unknown {
  if (err instanceof GatewayError) return err;
  const pg = pgErrorOf(err);
  if (!pg) return err;
  const constraint = pg.constraint ?? pg.constraint_name ?? '';
  switch (pg.code) {
    case '23505': {
      const param = UNIQUE_FIELDS[constraint] ?? null;
      return new GatewayError('conflict', param ? `${param}: already exists` : 'A resource with these values already exists.', { param });
    }
    case '23503':
      return new GatewayError('invalid_request_error', 'A referenced resource does not exist.');
    case '23502':
    case '23514':
    case '22P02':
    case '22001':
    case '22003':
    case '22007':
    case '22008':
      return new GatewayError('invalid_request_error', 'A value is not valid for this resource.');
    // A NUL character (the request checks should have caught it) or text the database cannot encode.
    case '22021':
    case '22P05':
      return new GatewayError('invalid_request_error', 'A text value holds a character the database cannot store (such as NUL).');
    case '42501':
      return new GatewayError('forbidden', 'This change is not allowed.');
    default:
      return err;
  }
}
