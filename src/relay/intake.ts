/**
 * Steps 1-2 and the end of the line, shared by every relay endpoint: who is calling and what they asked
 * for (authenticate, read, validate, model allowed, room to record usage); then, once answered, settle the
 * reservation to the real cost and queue the usage record.
 */
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { GatewayError } from '../errors.js';
import { readJsonBody } from '../http/body.js';
import type { Principal } from '../tokens/principal.js';
import type { UsageRecord } from '../usage/usage-record.js';
import { authenticate, checkModelAllowed, presentedToken } from './authenticate.js';
import { parseRequest } from './chat-request.js';
import { settle } from './booking.js';
import type { Attempt, RequestContext } from './attempts.js';
import type { RelayDeps } from './relay-deps.js';

export async function intake<T extends z.ZodType<{ model: string }>>(
  r: RelayDeps,
  incoming: IncomingMessage,
  schema: T,
): Promise<{ principal: Principal; body: Record<string, unknown>; req: z.infer<T> }> {
  const principal = await authenticate(r.principals, presentedToken(incoming.headers));
  const body = (await readJsonBody(incoming, r.config.LYSS_BODY_LIMIT_BYTES)) as Record<string, unknown>;
  const req = parseRequest(schema, body);
  checkModelAllowed(principal, req.model);
  // Never serve what could not be recorded: a full usage queue refuses new work instead of dropping records.
  if (r.usage.full) throw new GatewayError('service_unavailable', 'The gateway is saturated recording usage; please retry shortly.');
  return { principal, body, req };
}

/** Queues the usage record and settles the booking to `prompt + completion` tokens' cost. */
export async function settleAndRecord(
  r: RelayDeps,
  ctx: RequestContext,
  principal: Principal,
  attempt: Attempt,
  u: { model: string; prompt: number; completion: number; conversation: UsageRecord['conversation'] },
): Promise<void> {
  const cost = r.pricing.units(u.model, u.prompt + u.completion);
  // Queued before the settle: from this moment the durable spend (PostgreSQL plus this queue) includes the
  // answer, which is what seeds the counters if Redis is lost while the settle is on its way.
  r.usage.enqueue({
    tenantId: principal.tenantId,
    tokenId: principal.tokenId,
    userId: principal.userId,
    channelId: attempt.channel.id,
    cost,
    promptTokens: u.prompt,
    completionTokens: u.completion,
    model: u.model,
    at: new Date().toISOString(),
    conversation: u.conversation,
  });
  await settle(r.store, attempt.booking, cost).catch((err) => r.logger.error('quota settle failed; the reservation will expire', { err, requestId: ctx.requestId }));
}
