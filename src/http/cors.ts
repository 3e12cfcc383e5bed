/**
 * CORS for the OpenAI-compatible surface (/v1), so a browser app may call it with a Lyss token, as it may call
 * One-API or LiteLLM. Keys travel in the Authorization header, never in cookies, so allowing an origin lends
 * it nothing the page does not already hold. The admin API (/api) gets no CORS headers: its browser is the
 * gateway's own pages.
 */
import type { IncomingMessage } from 'node:http';
import type { NodeLane } from './server.js';

/** Response headers a browser script may read: the request ids (ours, and Anthropic's name for it), the conversation id, when to retry. */
const EXPOSED = 'x-request-id, request-id, x-lyss-conversation-id, retry-after';
const METHODS = 'GET, POST, OPTIONS';
/** How long a browser may reuse a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE = '600';

/**
 * Adds CORS headers to /v1 answers for allowed origins (headers set here merge with those the handlers write)
 * and answers preflights itself; everything else goes on to `next`.
 */
export function corsLane(origins: '*' | readonly string[], next: NodeLane): NodeLane {
  if (origins !== '*' && origins.length === 0) return next;
  return (req, res) => {
    if (!isRelayPath(req)) return next(req, res);
    // When only some origins are allowed every answer depends on the Origin, present or not: a shared cache must
    // not hand a browser the copy made for another origin, or for none.
    if (origins !== '*') res.setHeader('vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined) return next(req, res);
    const allowed = origins === '*' ? '*' : origins.includes(origin) ? origin : null;
    if (allowed !== null) {
      res.setHeader('access-control-allow-origin', allowed);
      res.setHeader('access-control-expose-headers', EXPOSED);
    }
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      // The allowed headers echo those asked for.
      res.setHeader('vary', origins === '*' ? 'Access-Control-Request-Headers' : 'Origin, Access-Control-Request-Headers');
      if (allowed !== null) {
        res.setHeader('access-control-allow-methods', METHODS);
        const asked = req.headers['access-control-request-headers'];
        if (asked) res.setHeader('access-control-allow-headers', asked);
        res.setHeader('access-control-max-age', PREFLIGHT_MAX_AGE);
      }
      res.writeHead(204).end();
      return Promise.resolve();
    }
    return next(req, res);
  };
}

const isRelayPath = (req: IncomingMessage): boolean => {
  const url = req.url ?? '';
  return url.startsWith('/v1/') || url === '/v1';
};
