/**
 * Which channel holds each stored response. The Responses API keeps a response with the upstream account (the
 * channel's key) that made it, so a follow-up naming it in `previous_response_id`, and a GET or DELETE of it,
 * must go to that channel. The gateway notes the channel, and the user whose request it was, in the limit store
 * (on Redis every instance sees it) for as long as OpenAI keeps a stored response.
 */
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { GatewayError } from '../errors.js';
import type { Channel } from '../channels/channel.js';
import { isUsable, isVisible } from '../channels/select.js';
import type { Principal } from '../tokens/principal.js';
import { openAIUrl } from './adapters/openai.js';
import { classifyTransportError } from './upstream.js';
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

async function holderOf(r: RelayDeps, principal: Principal, responseId: string): Promise<Holder | null> {
  const stored = await r.store.getValue(keyOf(principal.tenantId, responseId));
  return stored === null ? null : (JSON.parse(stored) as Holder);
}

/**
 * The channels a request continuing `previousId` may go to: only the one holding it, when the gateway knows it;
 * the usual order when it does not (made elsewhere, or forgotten), and the upstream decides.
 */
export async function continuingOrder(r: RelayDeps, principal: Principal, previousId: string, order: Channel[]): Promise<Channel[]> {
  let holder: Holder | null;
  try {
    holder = await holderOf(r, principal, previousId);
  } catch (err) {
    r.logger.warn('cannot look up which channel holds a stored response', { err, responseId: previousId });
    return order;
  }
  if (!holder) return order;
  // Another user's response is not found, as upstream would say of one it never had.
  if (holder.userId !== principal.userId) {
    throw new GatewayError('invalid_request_error', `Previous response with id '${previousId}' not found.`, {
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    });
  }
  const channel = order.find((c) => c.id === holder.channelId);
  if (!channel) {
    throw new GatewayError('no_available_channel', `The channel holding the previous response '${previousId}' is not available right now. Please try again later.`);
  }
  return [channel];
}

/**
 * GET and DELETE /v1/responses/{id}, and GET /v1/responses/{id}/input_items: relayed as they are, query string
 * included, to the channel holding the response; the answer (a stream for `?stream=true`) comes back as it is.
 */
export async function relayStoredResponse(r: RelayDeps, c: Context<RelayEnv>, suffix: '' | '/input_items'): Promise<Response> {
  const principal = await authenticate(r.principals, presentedToken(c.env.incoming.headers));
  const id = c.req.param('id') ?? '';
  let holder: Holder | null;
  try {
    holder = await holderOf(r, principal, id);
  } catch (err) {
    r.logger.warn('cannot look up which channel holds a stored response', { err, responseId: id });
    throw new GatewayError('service_unavailable', 'Stored responses cannot be looked up right now; please retry shortly.');
  }
  if (!holder || holder.userId !== principal.userId) throw new GatewayError('not_found', `Response with id '${id}' not found.`);
  const channel = (await r.channels.forTenant(principal.tenantId)).find((ch) => ch.id === holder.channelId);
  if (!channel || !isVisible(channel, principal) || !isUsable(channel)) {
    throw new GatewayError('no_available_channel', `The channel holding the response '${id}' is not available right now. Please try again later.`);
  }

  const { origin, path } = openAIUrl(channel, '/responses');
  const [base, channelQuery] = path.split('?');
  const query = [channelQuery, new URL(c.req.url).search.slice(1)].filter(Boolean).join('&');
  const method = c.req.method === 'DELETE' ? 'DELETE' : 'GET';
  const call = {
    origin,
    path: `${base}/${encodeURIComponent(id)}${suffix}${query ? `?${query}` : ''}`,
    method,
    headers: { authorization: `Bearer ${channel.apiKey}`, accept: 'application/json, text/event-stream' },
    body: '',
  } as const;
  const upstream = await r.upstream.send(call, c.req.raw.signal).catch((err: unknown) => {
    const failure = classifyTransportError(err);
    r.logger.warn('stored response relay failed', { channelId: channel.id, responseId: id, err: failure.message });
    throw failure.kind === 'timeout'
      ? new GatewayError('upstream_timeout', 'The upstream provider did not answer in time.')
      : new GatewayError('upstream_error', 'The gateway could not reach the upstream provider.');
  });
  const headers: Record<string, string> = {};
  const type = upstream.headers['content-type'];
  if (typeof type === 'string') headers['content-type'] = type;
  return new Response(Readable.toWeb(upstream.body) as ReadableStream, { status: upstream.status, headers });
}
