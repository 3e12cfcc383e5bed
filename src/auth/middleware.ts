/** Hono middleware for the admin API: the session behind `Authorization: Bearer`, and role checks. */
import type { MiddlewareHandler } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { UserRole } from '../db/schema/auth.js';
import { assertRole, type Actor } from './actor.js';
import { authenticateSession, type ClientMeta, type SessionDeps } from './sessions.js';

export interface SessionEnv {
  Bindings: HttpBindings;
  Variables: { requestId: string; actor: Actor };
}

export function bearerToken(header: string | undefined): string | null {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1]! : null;
}

/** Sets `actor`, or answers 401 (403 for a suspended tenant). */
export function sessionAuth(deps: SessionDeps): MiddlewareHandler<SessionEnv> {
  return async (c, next) => {
    c.set('actor', await authenticateSession(deps, bearerToken(c.req.header('authorization'))));
    await next();
  };
}

/** Answers 403 unless the actor has one of `roles`. Runs after sessionAuth. */
export function allowRoles(roles: readonly UserRole[]): MiddlewareHandler<SessionEnv> {
  return async (c, next) => {
    assertRole(c.get('actor'), roles);
    await next();
  };
}

/** The client's address (the first X-Forwarded-For hop when the gateway is told it sits behind a proxy). */
export function clientMeta(c: { env: HttpBindings; req: { header(name: string): string | undefined } }, trustProxy: boolean): ClientMeta {
  const forwarded = trustProxy ? c.req.header('x-forwarded-for')?.split(',')[0]?.trim() : undefined;
  return { ip: forwarded || c.env.incoming.socket.remoteAddress || null, userAgent: c.req.header('user-agent') ?? null };
}
