/**
 * Step 5: one store call books the token's and the channel's per-minute limits and reserves quota on both;
 * a second call settles the reservation to the real cost or releases it. Keys carry the tenant as a hash tag
 * so one Lua script touches one Redis Cluster slot.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { LimitStore } from '../store/limit-store.js';
import type { Principal } from '../tokens/principal.js';
import type { Channel } from '../channels/channel.js';

export interface Booking {
  id: string;
  quotaKeys: string[];
  /** Quota units held for this attempt. */
  reserved: number;
}

export type BookingResult =
  | { ok: true; booking: Booking }
  | { ok: false; scope: 'token' | 'channel'; error: GatewayError };

export const tokenQuotaKey = (p: Principal) => `{${p.tenantId}}:q:t:${p.tokenId}`;
export const channelQuotaKey = (c: Channel) => `{${c.tenantId}}:q:c:${c.id}`;
const tokenRateKey = (p: Principal) => `{${p.tenantId}}:r:t:${p.tokenId}`;
const channelRateKey = (c: Channel) => `{${c.tenantId}}:r:c:${c.id}`;

export async function book(
  store: LimitStore,
  req: { principal: Principal; channel: Channel; bookTokenRate: boolean; desired: number; minimum: number; ttlMs: number },
): Promise<BookingResult> {
  const { principal, channel } = req;
  const tKey = tokenQuotaKey(principal);
  const cKey = channelQuotaKey(channel);
  const id = randomUUID();
  const result = await store.admit({
    rateLimits: [
      ...(req.bookTokenRate ? [{ key: tokenRateKey(principal), limit: principal.rateLimit }] : []),
      { key: channelRateKey(channel), limit: channel.rateLimit },
    ],
    quotas: [
      { key: tKey, limit: principal.quota, baseline: principal.usedQuota },
      { key: cKey, limit: channel.quota, baseline: channel.usedQuota },
    ],
    reservationId: id,
    desired: req.desired,
    minimum: req.minimum,
    ttlMs: req.ttlMs,
  });
  if (result.ok) return { ok: true, booking: { id, quotaKeys: [tKey, cKey], reserved: result.reserved } };
  const onToken = result.key === tKey || result.key === tokenRateKey(principal);
  if (result.reason === 'rate_limited') {
    const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    return {
      ok: false,
      scope: onToken ? 'token' : 'channel',
      error: new GatewayError(
        'rate_limit_exceeded',
        onToken
          ? `Rate limit reached for this API key: ${principal.rateLimit} requests per minute. Please try again in ${seconds}s.`
          : 'Rate limit reached for the channels serving this model. Please try again later.',
        { retryAfterSeconds: seconds },
      ),
    };
  }
  return {
    ok: false,
    scope: onToken ? 'token' : 'channel',
    error: new GatewayError(
      'insufficient_quota',
      onToken
        ? `You exceeded your current quota: ${Math.max(0, result.remaining)} quota units left, not enough for this request.`
        : 'The channels serving this model have no quota left for this request.',
    ),
  };
}

export async function settle(store: LimitStore, booking: Booking, actual: number): Promise<void> {
  await store.settle(booking.quotaKeys, booking.id, actual);
}

export async function release(store: LimitStore, booking: Booking): Promise<void> {
  await store.release(booking.quotaKeys, booking.id);
}
