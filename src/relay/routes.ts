/** The OpenAI-compatible surface under /v1. */
import { Hono, type Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { GatewayError } from '../errors.js';
import type { RelayDeps } from './relay-deps.js';
import type { RequestContext } from './attempts.js';
import { handleChat } from './chat.js';
import { handleCompletions, handleEmbeddings } from './legacy-and-embeddings.js';
import { getModel, listModels } from './models.js';
import { handleMessages } from './messages.js';
import { ClientAbort } from './client-abort.js';

export interface RelayEnv {
  Bindings: HttpBindings;
  Variables: { requestId: string };
}

type Handler = (r: RelayDeps, c: Context<RelayEnv>, ctx: RequestContext) => Promise<Response>;

export function relayRoutes(r: RelayDeps): Hono<RelayEnv> {
  const app = new Hono<RelayEnv>();

  // Gives each handler the raw response and an abort signal that fires when the client goes away.
  const relay = (handler: Handler) => async (c: Context<RelayEnv>) => {
    const res = c.env.outgoing;
    const abort = new ClientAbort();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const ctx: RequestContext = { requestId: c.get('requestId'), res, abort, startedAt: Date.now() };
    try {
      return await handler(r, c, ctx);
    } catch (err) {
      if (!res.headersSent) throw err;
      // Too late for an error response: the answer has begun. Log it and close what was sent.
      r.logger.error('relay failed after the response started', { err, requestId: ctx.requestId });
      if (!res.writableEnded) res.end();
      return RESPONSE_ALREADY_SENT;
    }
  };

  app.post('/chat/completions', relay(handleChat));
  app.post('/completions', relay(handleCompletions));
  app.post('/embeddings', relay(handleEmbeddings));
  app.post('/messages', relay(handleMessages));
  app.get('/models', (c) => listModels(r, c));
  app.get('/models/:id{.+}', (c) => getModel(r, c));
  for (const path of ['/chat/completions', '/completions', '/embeddings']) {
    app.all(path, () => {
      throw new GatewayError('method_not_allowed', 'Only POST is supported on this endpoint.');
    });
  }
  return app;
}
