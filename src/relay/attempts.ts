/**
 * Steps 5-6 with failover: for each channel in attempt order, book limits and quota, call upstream, and
 * hand a 200 answer to `serve`. A retryable failure before anything reached the client releases the
 * reservation and moves on (same tier first, then lower tiers), up to LYSS_RELAY_RETRIES more calls.
 */
import type { ServerResponse } from 'node:http';
import { GatewayError } from '../errors.js';
import { promiseOf } from '../promise-of.js';
import type { Channel } from '../channels/channel.js';
import type { Principal } from '../tokens/principal.js';
import { book, release, type Booking } from './booking.js';
import type { RelayDeps } from './relay-deps.js';
import { classifyTransportError, readCapped, type TransportFailure, type UpstreamCall, type UpstreamResponse } from './upstream.js';
import { BeforeFirstByteError } from './sse-relay.js';
import type { UpstreamFailure } from './adapters/openai-errors.js';
import type { ClientAbort } from './client-abort.js';

export interface RequestContext {
  requestId: string;
  res: ServerResponse;
  /** Aborted when the client goes away. */
  abort: ClientAbort;
  startedAt: number;
}

export interface Attempt {
  channel: Channel;
  booking: Booking;
  response: UpstreamResponse;
  sentAt: number;
}

export interface AttemptPlan {
  principal: Principal;
  order: readonly Channel[];
  /** Quota units to reserve: `desired` if it fits, else as much as fits down to `minimum`. */
  desired: number;
  minimum: number;
  build(channel: Channel, booking: Booking): UpstreamCall;
  error(channel: Channel, status: number, text: string): UpstreamFailure;
  /** Sends the answer; settles or releases the booking itself. Rejects with BeforeFirstByteError to fail over. */
  serve(attempt: Attempt): Promise<void>;
}

/** Where the failover stands: the next channel to try, the upstream calls made, the last refusal. */
interface Tries {
  next: number;
  calls: number;
  tokenRateBooked: boolean;
  last: GatewayError | null;
  /** Why a channel's wire format could not express the request: the client's error if no other channel can. */
  unexpressible: unknown;
}

/**
 * Not an async function, nor is anything it waits on while an answer streams: an async frame suspended for the
 * minutes a stream may last held ~1 KB per open stream (bench/README, "Eleventh round").
 */
export function attemptChannels(r: RelayDeps, ctx: RequestContext, plan: AttemptPlan): Promise<void> {
  const tries: Tries = { next: 0, calls: 0, tokenRateBooked: false, last: null, unexpressible: null };
  const attempt = (): Promise<void> =>
    connect(r, ctx, plan, tries).then((found) => {
      if (!found) return;
      // A serve that throws before returning its promise still fails over.
      return promiseOf(() => plan.serve(found)).then(
        () => r.health.success(found.channel, Date.now() - found.sentAt),
        (err: unknown) => failedBeforeFirstByte(r, ctx, found, err, tries).then((retry) => (retry ? attempt() : undefined)),
      );
    });
  return attempt();
}

/** Books and calls the channels from `tries.next` on until one answers 200; null once the client is gone. */
async function connect(r: RelayDeps, ctx: RequestContext, plan: AttemptPlan, tries: Tries): Promise<Attempt | null> {
  while (tries.next < plan.order.length) {
    const channel = plan.order[tries.next++]!;
    if (tries.calls > r.config.LYSS_RELAY_RETRIES) break;
    if (ctx.abort.aborted) return null;
    const booked = await book(r.store, {
      principal: plan.principal,
      channel,
      bookTokenRate: !tries.tokenRateBooked,
      desired: plan.desired,
      minimum: plan.minimum,
      ttlMs: r.config.LYSS_RESERVATION_TTL_MS,
    });
    if (!booked.ok) {
      if (booked.scope === 'token') throw booked.error;
      tries.last = booked.error;
      continue;
    }
    tries.tokenRateBooked = true;
    const booking = booked.booking;
    let call: UpstreamCall;
    try {
      call = plan.build(channel, booking);
    } catch (err) {
      // A request this channel's wire format cannot express (a system-only conversation for Anthropic): a channel
      // of another format may, and no upstream was called. If none can, it is the client's error.
      await release(r.store, booking);
      tries.unexpressible ??= err;
      continue;
    }
    tries.calls++;
    const sentAt = Date.now();
    let response: UpstreamResponse;
    try {
      response = await r.upstream.send(call, ctx.abort);
    } catch (err) {
      await release(r.store, booking);
      if (ctx.abort.aborted) return null;
      const failure = classifyTransportError(err);
      r.logger.warn('upstream unreachable', { requestId: ctx.requestId, channelId: channel.id, ...failure });
      r.health.failure(channel, 'transient', failure.message);
      tries.last = transportError(failure, 'reach');
      continue;
    }
    if (response.status !== 200) {
      const refused = await judgedAnswer(r, channel, response, plan.error, { requestId: ctx.requestId });
      await release(r.store, booking);
      tries.last = refused.error;
      if (!refused.failure.retryable) throw tries.last;
      continue;
    }
    return { channel, booking, response, sentAt };
  }
  // An upstream's failure says more than a format's refusal: another try may succeed.
  if (tries.last) throw tries.last;
  if (tries.unexpressible) throw tries.unexpressible;
  throw new GatewayError('no_available_channel', 'No channel is available for this model right now. Please try again later.');
}

/** An upstream's answer other than 200: its body read (for the log only), then judged. */
export async function judgedAnswer(
  r: RelayDeps,
  channel: Channel,
  response: UpstreamResponse,
  errorOf: (channel: Channel, status: number, text: string) => UpstreamFailure,
  context: Record<string, unknown>,
): Promise<{ failure: UpstreamFailure; error: GatewayError }> {
  const text = await readCapped(response.body).catch(() => '');
  r.logger.warn('upstream error', { ...context, channelId: channel.id, status: response.status, body: text.slice(0, 2000) });
  const failure = errorOf(channel, response.status, text);
  return { failure, error: judged(r, channel, failure, `upstream status ${response.status}`, response.headers['retry-after']) };
}

/** Marks the channel as the failure says, and makes the error the client gets if no other channel serves it. */
function judged(r: RelayDeps, channel: Channel, failure: UpstreamFailure, reason: string, retryAfter?: string | string[]): GatewayError {
  if (failure.channelFault) r.health.failure(channel, failure.channelFault, reason);
  else if (failure.retryable && !failure.channelLacks) r.health.failure(channel, 'transient', reason);
  return new GatewayError(failure.code === 'rate_limit_exceeded' ? 'rate_limit_exceeded' : 'upstream_error', failure.message, {
    status: failure.status,
    type: failure.type,
    code: failure.code,
    param: failure.param,
    retryAfterSeconds: failure.status === 429 || failure.status === 503 ? retryAfterSeconds(retryAfter) : undefined,
  });
}

/** The client's error for an upstream that timed out, or that could not be reached or failed before answering. */
export function transportError(failure: TransportFailure, stage: 'reach' | 'answer'): GatewayError {
  if (failure.kind === 'timeout') return new GatewayError('upstream_timeout', 'The upstream provider did not answer in time.');
  return new GatewayError('upstream_error', stage === 'reach' ? 'The gateway could not reach the upstream provider.' : 'The upstream provider failed before answering.');
}

/** An upstream's Retry-After (seconds or an HTTP date) in whole seconds, for the client to wait as long. */
function retryAfterSeconds(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : undefined;
}

/** After `serve` rejected: true to try the next channel (nothing reached the client yet); rethrows anything else. */
async function failedBeforeFirstByte(r: RelayDeps, ctx: RequestContext, attempt: Attempt, err: unknown, tries: Tries): Promise<boolean> {
  if (!(err instanceof BeforeFirstByteError)) {
    // A failure of the gateway's own: the reservation goes back now rather than at its expiry (after the settle
    // there is nothing left to return), and the error stays the one to answer.
    await release(r.store, attempt.booking).catch(() => undefined);
    throw err;
  }
  await release(r.store, attempt.booking);
  if (ctx.abort.aborted) return false;
  if (err.failure) {
    r.logger.warn('upstream answered with an error', { requestId: ctx.requestId, channelId: attempt.channel.id, code: err.failure.code });
    tries.last = judged(r, attempt.channel, err.failure, 'upstream answered 200 with an error');
    if (!err.failure.retryable) throw tries.last;
    return true;
  }
  const failure = classifyTransportError(err.causeError);
  r.logger.warn('upstream failed before first byte', { requestId: ctx.requestId, channelId: attempt.channel.id, ...failure });
  r.health.failure(attempt.channel, 'transient', failure.message);
  tries.last = transportError(failure, 'answer');
  return true;
}
