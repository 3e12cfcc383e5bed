/** Step 1: the caller's token -> principal, from the in-process cache. Refusals are OpenAI-shaped. */
import { GatewayError } from '../errors.js';
import { sha256Hex } from '../crypto/digest.js';
import { TokenStatus } from '../db/schema/provider.js';
import type { PrincipalCache } from '../tokens/principal-cache.js';
import type { Principal } from '../tokens/principal.js';

/** Bearer token from Authorization, or Anthropic-style x-api-key. */
export function presentedToken(headers: Record<string, string | string[] | undefined>): string | null {
  const auth = headers['authorization'];
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1]!;
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey.trim() : null;
}

function masked(token: string): string {
  return token.length <= 12 ? '***' : `${token.slice(0, 8)}***${token.slice(-4)}`;
}

export async function authenticate(cache: PrincipalCache, token: string | null, now = Date.now()): Promise<Principal> {
  if (!token) {
    throw new GatewayError(
      'invalid_api_key',
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    );
  }
  const principal = await cache.get(sha256Hex(token));
  if (!principal) throw new GatewayError('invalid_api_key', `Incorrect API key provided: ${masked(token)}.`);
  if (!principal.tenant.active) throw new GatewayError('tenant_suspended', 'The organization of this API key is not active.');
  if (!principal.user.active) throw new GatewayError('invalid_api_key', 'The user of this API key is deactivated.');
  if (principal.status === TokenStatus.disabled) throw new GatewayError('invalid_api_key', 'This API key is disabled.');
  if (principal.status === TokenStatus.expired || (principal.expiresAt !== null && principal.expiresAt <= now)) {
    throw new GatewayError('token_expired', 'This API key has expired.');
  }
  return principal;
}

export function checkModelAllowed(principal: Principal, model: string): void {
  if (principal.allowedModels.size > 0 && !principal.allowedModels.has(model)) {
    throw new GatewayError('model_not_allowed', `This API key is not allowed to use the model \`${model}\`.`, { param: 'model' });
  }
}
