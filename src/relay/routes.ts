/** The OpenAI-compatible surface under /v1: the relay's POST endpoints on node:http, the rest on Hono. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { GatewayError, errorBody, refusalOf } from '../errors.js';
import { promiseOf } from '../promise-of.js';
import type { NodeLane } from '../http/server.js';
import { requestIdOf } from '../http/request-id.js';
import type { RelayDeps } from './relay-deps.js';
import type { RequestContext } from './attempts.js';
import { handleChat } from './chat.js';
import { handleCompletions, handleEmbeddings } from './legacy-and-embeddings.js';
import { getModel, listModels } from './models.js';
import { handleCountTokens, handleMessages } from './messages.js';
import { openAIErrorToAnthropic } from './adapters/anthropic/inbound.js';
import { handleResponses } from './responses.js';
import { relayStoredResponse } from './stored-responses.js';
import { ClientAbort } from './client-abort.js';
import { baseHeaders, sendJsonText } from './respond.js';

export interface RelayEnv {
  Bindings: HttpBindings;
  Variables: { requestId: string };
}

/** Answers on `ctx.res` itself; throws a GatewayError to refuse before anything was sent. */
type Handler = (r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext) => Promise<void>;

const RELAYED = new Map<string, Handler>([
  ['/v1/chat/completions', handleChat],
  ['/v1/completions', handleCompletions],
  ['/v1/embeddings', handleEmbeddings],
  ['/v1/messages', handleMessages],
  ['/v1/messages/count_tokens', handleCountTokens],
  ['/v1/responses', handleResponses],
]);

/** POSTs to the relay's endpoints, served before Hono builds anything for them (see NodeLane). */
export function relayLane(r: RelayDeps): NodeLane {
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const handler = RELAYED.get(pathOf(req.url ?? ''));
    return handler ? relay(r, handler, req, res) : false;
  };
}

/** The path of a request target: origin-form (`/v1/...?q`) cut at the query, absolute-form parsed. */
function pathOf(target: string): string {
  if (target.startsWith('/')) {
    const query = target.indexOf('?');
    return query < 0 ? target : target.slice(0, query);
  }
  return URL.canParse(target) ? new URL(target).pathname : target;
}

/**
 * Gives the handler the response, a request id and an abort that fires when the client goes away; answers what
 * it throws. Not an async function: nothing of it stays suspended while an answer streams.
 */
function relay(r: RelayDeps, handler: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new ClientAbort();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const ctx: RequestContext = { requestId: requestIdOf(req.headers), res, abort, startedAt: Date.now() };
  // A handler that throws before returning its promise is answered all the same, never thrown into the server's listener.
  return promiseOf(() => handler(r, req, ctx)).catch((err: unknown) => answerFailure(r, req, ctx, err));
}

function answerFailure(r: RelayDeps, req: IncomingMessage, ctx: RequestContext, err: unknown): void {
  const { res } = ctx;
  if (res.headersSent) {
    // Too late for an error response: the answer has begun. Log it and close what was sent.
    r.logger.error('relay failed after the response started', { err, requestId: ctx.requestId });
    if (!res.writableEnded) res.end();
    return;
  }
  const headers = baseHeaders(ctx.requestId);
  const refusal = refusalOf(err);
  if (refusal?.retryAfter) headers['retry-after'] = refusal.retryAfter;
  if (!refusal) r.logger.error('unhandled error', { err, requestId: ctx.requestId, path: req.url });
  const body = refusal?.body ?? errorBody('internal_error', 'The gateway failed to handle this request.');
  sendJsonText(res, refusal?.status ?? 500, JSON.stringify(body), headers);
}

export function relayRoutes(r: RelayDeps): Hono<RelayEnv> {
  const app = new Hono<RelayEnv>();
  app.get('/models', (c) => listModels(r, c));
  app.get('/models/:id{.+}', (c) => getModel(r, c));
  app.on(['GET', 'DELETE'], '/responses/:id', (c) => relayStoredResponse(r, c, ''));
  app.get('/responses/:id/input_items', (c) => relayStoredResponse(r, c, '/input_items'));
  // POSTs to these never reach Hono (relayLane takes them).
  for (const path of ['/chat/completions', '/completions', '/embeddings', '/responses']) {
    app.all(path, () => {
      throw new GatewayError('method_not_allowed', 'Only POST is supported on this endpoint.');
    });
  }
  // Anthropic's endpoints answer in Anthropic's shape, as their POSTs do.
  for (const path of ['/messages', '/messages/count_tokens']) {
    app.all(path, (c) => c.json(openAIErrorToAnthropic(405, { message: 'Only POST is supported on this endpoint.', type: 'invalid_request_error' }), 405));
  }
  return app;
}
