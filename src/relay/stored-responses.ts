/**
 * Which channel holds each stored response. The Responses API keeps a response with the upstream account (the
 * channel's key) that made it, so a follow-up naming it in `previous_response_id`, and a GET or DELETE of it,
 * must go to that channel. The gateway notes the channel, and the user whose request it was, in the limit store
 * (on Redis every instance sees it) for as long as OpenAI keeps a stored response; only what it noted is found.
 */
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { GatewayError } from '../errors.js';
import type { Channel } from '../channels/channel.js';
import { isVisible } from '../channels/select.js';
import { ChannelStatus } from '../db/schema/provider.js';
import type { Principal } from '../tokens/principal.js';
import { openAIUrl } from './adapters/openai.js';
import { classifyTransportError, readCapped } from './upstream.js';
import { judgedAnswer, transportError } from './attempts.js';
import { book, release } from './booking.js';
import { mapOpenAIError } from './adapters/openai-errors.js';
import { authenticate, presentedToken } from './authenticate.js';
import type { RelayDeps } from './relay-deps.js';
import type { RelayEnv } from './routes.js';

const RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

interface Holder {
  channelId: string;
  userId: string;
}

const keyOf = (tenantId: string, responseId: string) => `{${tenantId}}:response:${responseId}`;

/** Notes the channel that made a stored response. A failure is logged: the response itself was served. */
export function rememberHolder(r: RelayDeps, principal: Principal, responseId: string, channel: Channel): Promise<void> {
  const holder: Holder = { channelId: channel.id, userId: principal.userId };
  return r.store.putValue(keyOf(principal.tenantId, responseId), JSON.stringify(holder), RETENTION_MS).catch((err: unknown) => {
    r.logger.warn('cannot note which channel holds a stored response', { err, responseId, channelId: channel.id });
  });
}

/** The holder noted for `responseId` in this tenant; a store that cannot answer is a 503, not "unknown". */
async function holderOf(r: RelayDeps, principal: Principal, responseId: string): Promise<Holder | null> {
  let stored: string | null;
  try {
    stored = await r.store.getValue(keyOf(principal.tenantId, responseId));
  } catch (err) {
    r.logger.warn('cannot look up which channel holds a stored response', { err, responseId });
    throw new GatewayError('service_unavailable', 'Stored responses cannot be looked up right now; please retry shortly.');
  }
  return stored === null ? null : (JSON.parse(stored) as Holder);
}

/**
 * The one channel a request continuing `previousId` may go to. Only a response this user made through the gateway
 * is continued: any other id is not found, as upstream would say of one it never had. (Sent on, an unknown id
 * would reach an upstream account that holds every user's responses.)
 */
export async function continuingOrder(r: RelayDeps, principal: Principal, model: string, previousId: string, order: Channel[]): Promise<Channel[]> {
  const holder = await holderOf(r, principal, previousId);
  if (!holder || holder.userId !== principal.userId) {
    throw new GatewayError('invalid_request_error', `Previous response with id '${previousId}' not found.`, {
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    });
  }
  const usable = order.find((c) => c.id === holder.channelId);
  if (usable) return [usable];
  const channel = (await r.channels.forTenant(principal.tenantId)).find((c) => c.id === holder.channelId);
  // Cooling down or disabled: it may come back. Gone, out of this token's reach, or not serving the model: it will not.
  if (channel && isVisible(channel, principal) && channel.models.has(model)) {
    throw new GatewayError('no_available_channel', `The channel holding the previous response '${previousId}' is not available right now. Please try again later.`);
  }
  throw new GatewayError('invalid_request_error', `Previous response with id '${previousId}' was made on a channel that cannot serve this request (another model, or a channel this token may not use).`, {
    param: 'previous_response_id',
    code: 'invalid_value',
  });
}

/**
 * GET and DELETE /v1/responses/{id}, and GET /v1/responses/{id}/input_items: relayed, query string included, to
 * the channel holding the response. A 200 comes back as it is (a stream for `?stream=true`); an upstream error is
 * judged as the relay judges any (no key or account detail reaches the client; a refused key marks the channel).
 */
export async function relayStoredResponse(r: RelayDeps, c: Context<RelayEnv>, suffix: '' | '/input_items'): Promise<Response> {
  const principal = await authenticate(r.principals, presentedToken(c.env.incoming.headers));
  const id = c.req.param('id') ?? '';
  const holder = await holderOf(r, principal, id);
  const notFound = () => new GatewayError('not_found', `Response with id '${id}' not found.`);
  if (!holder || holder.userId !== principal.userId) throw notFound();
  const channel = (await r.channels.forTenant(principal.tenantId)).find((ch) => ch.id === holder.channelId);
  // Not isUsable: a channel drained to weight 0 still answers for what it holds.
  if (!channel || !isVisible(channel, principal) || channel.status !== ChannelStatus.enabled || channel.apiKey === null) {
    throw new GatewayError('no_available_channel', `The channel holding the response '${id}' is not available right now. Please try again later.`);
  }

  // A call upstream like any: it counts against the token's and the channel's per-minute limits (it costs no quota).
  const booked = await book(r.store, { principal, channel, bookTokenRate: true, desired: 0, minimum: 0, ttlMs: r.config.LYSS_RESERVATION_TTL_MS });
  if (!booked.ok) throw booked.error;
  void release(r.store, booked.booking).catch(() => undefined);

  const { origin, path } = openAIUrl(channel, '/responses');
  const [base, channelQuery] = path.split('?');
  const query = [channelQuery, new URL(c.req.url).search.slice(1)].filter(Boolean).join('&');
  const call = {
    origin,
    path: `${base}/${encodeURIComponent(id)}${suffix}${query ? `?${query}` : ''}`,
    method: c.req.method === 'DELETE' ? 'DELETE' : 'GET',
    headers: { authorization: `Bearer ${channel.apiKey}`, accept: 'application/json, text/event-stream' },
    body: '',
  } as const;
  const upstream = await r.upstream.send(call, c.req.raw.signal).catch((err: unknown) => {
    const failure = classifyTransportError(err);
    r.logger.warn('stored response relay failed', { channelId: channel.id, responseId: id, ...failure });
    throw transportError(failure, 'reach');
  });
  if (upstream.status === 404) {
    await readCapped(upstream.body).catch(() => '');
    throw notFound();
  }
  if (upstream.status !== 200) throw (await judgedAnswer(r, channel, upstream, (_channel, status, text) => mapOpenAIError(status, text), { responseId: id })).error;
  const headers: Record<string, string> = {};
  const type = upstream.headers['content-type'];
  if (typeof type === 'string') headers['content-type'] = type;
  return new Response(Readable.toWeb(upstream.body) as ReadableStream, { status: 200, headers });
}
