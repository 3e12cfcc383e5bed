/**
 * Turns AdminRoute definitions into Hono routes: session and role checks, the target tenant, input
 * validation, one tenant transaction for the handler, and database errors translated to client errors.
 */
import type { Context, Hono } from 'hono';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Deps } from '../deps.js';
import { withTenant } from '../db/tenant.js';
import { tenantOrganizations } from '../db/schema/index.js';
import { readJsonBody } from '../http/body.js';
import { GatewayError } from '../errors.js';
import { allowRoles, clientMeta, sessionAuth, type SessionEnv } from '../auth/middleware.js';
import type { Actor } from '../auth/actor.js';
import type { AdminRoute } from './route-def.js';
import { emptyQuery, id } from './common-schemas.js';
import { parseInput } from './validation.js';
import { translateDbError } from './db-errors.js';

export type AdminEnv = SessionEnv;

/** Admin bodies are small; the relay's limit is for prompts. */
const ADMIN_BODY_LIMIT = 1024 * 1024;

export const TENANT_PREFIX = '/tenants/{tenant_id}';
const tenantParam = z.strictObject({ tenant_id: id() });

/** Every path a route answers on: its own, and for tenant-scoped routes the explicit cross-tenant form. */
export function pathsOf(route: AdminRoute): string[] {
  return route.tenantScoped ? [route.path, `${TENANT_PREFIX}${route.path}`] : [route.path];
}

/**
 * The tenant a /tenants/{tenant_id}/... request acts for. Anyone may name their own tenant; naming another
 * needs super_admin, and is logged: this is the one audited path across tenants (Row Level Security stays on,
 * the work simply runs in the other tenant's transaction).
 */
async function targetTenant(deps: Deps, actor: Actor, raw: string, c: Context<AdminEnv>): Promise<string> {
  const { tenant_id: tenantId } = parseInput(tenantParam, { tenant_id: raw }, 'path');
  if (tenantId === actor.tenantId) return tenantId;
  if (actor.role !== 'super_admin') {
    throw new GatewayError('forbidden', 'Only a super admin can act for another tenant.', { param: 'tenant_id' });
  }
  const t = tenantOrganizations;
  const [row] = await deps.database.db.select({ id: t.id }).from(t).where(eq(t.id, tenantId));
  if (!row) throw new GatewayError('not_found', 'No tenant with this id.', { param: 'tenant_id' });
  deps.logger.info('audit: super admin acting for another tenant', {
    actorId: actor.userId,
    actorEmail: actor.email,
    actorTenantId: actor.tenantId,
    tenantId,
    method: c.req.method,
    path: c.req.path,
    requestId: c.get('requestId'),
  });
  return tenantId;
}

export function register(app: Hono<AdminEnv>, deps: Deps, routes: readonly AdminRoute[]): void {
  const auth = sessionAuth({ db: deps.database.db, config: deps.config, logger: deps.logger });
  const bodyLimit = Math.min(ADMIN_BODY_LIMIT, deps.config.LYSS_BODY_LIMIT_BYTES);

  for (const r of routes) {
    const handler = async (c: Context<AdminEnv>) => {
      const actor = r.roles ? c.get('actor') : null;
      const { tenant_id: tenantParam, ...pathParams } = c.req.param() as Record<string, string>;
      const tenantId = actor ? (tenantParam !== undefined ? await targetTenant(deps, actor, tenantParam, c) : actor.tenantId) : null;
      const params = r.params ? parseInput(r.params, pathParams, 'path') : undefined;
      const query = parseInput(r.query ?? emptyQuery, c.req.query(), 'query');
      const body = r.body ? parseInput(r.body, await readJsonBody(c.env.incoming, bodyLimit), 'body') : undefined;
      let result: unknown;
      try {
        result = await r.invoke({
          deps,
          actor,
          tenantId,
          params,
          query,
          body,
          request: { requestId: c.get('requestId'), ...clientMeta(c, deps.config.LYSS_TRUST_PROXY) },
          tx: (work) => {
            if (!tenantId) throw new Error(`${r.method} ${r.path}: no tenant to act for`);
            return withTenant(deps.database.db, tenantId, work);
          },
        });
      } catch (err) {
        throw translateDbError(err);
      }
      c.header('cache-control', 'no-store');
      if (r.status === 204) return c.body(null, 204);
      return c.json(result as object, r.status);
    };
    for (const path of pathsOf(r)) {
      const honoPath = path.replace(/\{(\w+)\}/g, ':$1');
      if (r.roles) app.on(r.method.toUpperCase(), honoPath, auth, allowRoles(r.roles), handler);
      else app.on(r.method.toUpperCase(), honoPath, handler);
    }
  }
}
