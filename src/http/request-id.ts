/** Every response carries x-request-id: the client's own if it sent a sane one, else a new one. */
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(): MiddlewareHandler<{ Variables: { requestId: string } }> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    const id = given && SANE.test(given) ? given : `req_${randomUUID().replaceAll('-', '')}`;
    c.set('requestId', id);
    await next();
    // The relay writes its answers to the socket itself (with this id); the header goes on everything else,
    // errors included, once the response exists.
    if (!c.res.headers.has('x-hono-already-sent')) c.res.headers.set('x-request-id', id);
  };
}
