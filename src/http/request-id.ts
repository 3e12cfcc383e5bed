/** Every response carries x-request-id: the client's own if it sent a sane one, else a new one. */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

// Ids must be unique, not secret: a random per-process prefix and a counter are as unique as a UUID, cost
// nothing per request, and keep the `req_` + 32 hex digits shape.
const PREFIX = randomBytes(8).toString('hex');
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `req_${PREFIX}${counter.toString(16).padStart(16, '0')}`;
}

export function requestId(): MiddlewareHandler<{ Bindings: { incoming?: IncomingMessage }; Variables: { requestId: string } }> {
  return async (c, next) => {
    // The Node request's own header map: Hono's c.req.header() would build a web Headers object first.
    const incoming = c.env?.incoming;
    const given = incoming ? incoming.headers['x-request-id'] : c.req.header('x-request-id');
    const id = typeof given === 'string' && SANE.test(given) ? given : newRequestId();
    c.set('requestId', id);
    await next();
    // The relay writes its answers to the socket itself (with this id); the header goes on everything else,
    // errors included, once the response exists.
    if (!c.res.headers.has('x-hono-already-sent')) c.res.headers.set('x-request-id', id);
  };
}
