/** Token digests: provider_tokens.key and session tokens hold SHA-256 of the token, never the token. */
import { createHash, randomBytes } from 'node:crypto';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export const TOKEN_PREFIX = 'lyss-';

/** A new relay token: `lyss-` + 40 base62-ish characters (238 bits). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(30).toString('base64url');
}

/** The non-secret start of a token kept for display (`lyss-AbCd…`). */
export function tokenDisplayPrefix(token: string): string {
  return token.slice(0, 12);
}
