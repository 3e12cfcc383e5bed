/** Token digests: provider_tokens.key and session tokens hold SHA-256 of the token, never the token. */
import { hash, randomBytes } from 'node:crypto';

/** One-shot `hash()`: a third of createHash()'s time for a token (no Hash object per call), and it runs per request. */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
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
