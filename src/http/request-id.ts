/** Every response carries x-request-id: the client's own if it sent a sane one, else a new one. */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

// Ids must be unique, not secret: a random per-process prefix and a counter are as unique as a UUID, cost
// nothing per request, and keep the `req_` + 32 hex digits shape. The counter's digits are written into one
// buffer so that the id is one flat string: built with a template and padStart it was a tree of ~16 joined
// pieces (~0.5 KB) that every request, and every open stream, kept for its life.
const ID = Buffer.from(`req_${randomBytes(8).toString('hex')}${'0'.repeat(16)}`, 'latin1');
const HEX_DIGITS = '0123456789abcdef';
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  let n = counter;
  for (let i = ID.length - 1; i >= ID.length - 16; i--) {
    ID[i] = HEX_DIGITS.charCodeAt(n % 16);
    n = Math.floor(n / 16);
  }
  return ID.toString('latin1');
}

/** The client's x-request-id if it is a sane one, else a new id. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && SANE.test(given) ? given : newRequestId();
}

export function requestId(): MiddlewareHandler<{ Bindings: { incoming?: IncomingMessage }; Variables: { requestId: string } }> {
  return async (c, next) => {
    // The Node request's own header map: Hono's c.req.header() would build a web Headers object first.
    const incoming = c.env?.incoming;
    const id = incoming ? requestIdOf(incoming.headers) : requestIdOf({ 'x-request-id': c.req.header('x-request-id') });
    c.set('requestId', id);
    await next();
    // The relay writes its answers to the socket itself (with this id); the header goes on everything else,
    // errors included, once the response exists.
    if (!c.res.headers.has('x-hono-already-sent')) c.res.headers.set('x-request-id', id);
  };
}
