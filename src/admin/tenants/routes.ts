/**
 * /tenants: super admins create, list, inspect, update, suspend and reactivate tenants. A suspension
 * notifies every instance (drizzle/0004), so the tenant's tokens stop working on the relay within a second.
 */
import { withTenant } from '../../db/tenant.js';
import { GatewayError } from '../../errors.js';
import { SUPER_ADMIN_ONLY } from '../../auth/actor.js';
import { idParams, listOf } from '../common-schemas.js';
import { pageOf } from '../pagination.js';
import { route, type AdminRoute } from '../route-def.js';
import { countActiveUsers, getTenant, insertTenant, listTenants, tenantJson, updateTenant, type TenantRow } from './repo.js';
import { createTenantBody, listTenantsQuery, tenantDetailSchema, tenantSchema, updateTenantBody } from './schemas.js';
import type { Deps } from '../../deps.js';

const base = { tag: 'Tenants', roles: SUPER_ADMIN_ONLY } as const;
const notFound = () => new GatewayError('not_found', 'No tenant with this id.', { param: 'id' });

function found(row: TenantRow | null): TenantRow {
  if (!row) throw notFound();
  return row;
}

async function detail(deps: Deps, row: TenantRow) {
  const activeUsers = await withTenant(deps.database.db, row.id, countActiveUsers);
  return { ...tenantJson(row), active_users: activeUsers };
}

function setStatus(status: 'active' | 'suspended', summary: string, description: string): AdminRoute {
  return route({
    ...base,
    method: 'post',
    path: `/tenants/{id}/${status === 'active' ? 'activate' : 'suspend'}`,
    summary,
    description,
    params: idParams,
    response: tenantSchema,
    handle: async ({ deps, actor, params, request }) => {
      const row = found(await updateTenant(deps.database.db, params.id, { status }));
      deps.logger.info('audit: tenant status changed', { actorId: actor.userId, tenantId: row.id, status, requestId: request.requestId });
      return tenantJson(row);
    },
  });
}

export const tenantRoutes: AdminRoute[] = [
  route({
    ...base,
    method: 'post',
    path: '/tenants',
    summary: 'Create a tenant',
    description: 'Add its first admin with POST /tenants/{tenant_id}/users.',
    body: createTenantBody,
    response: tenantSchema,
    status: 201,
    handle: async ({ deps, actor, body, request }) => {
      const row = await insertTenant(deps.database.db, {
        slug: body.slug,
        name: body.name,
        subscriptionPlan: body.subscription_plan,
        maxUsers: body.max_users,
        settings: body.settings,
      });
      deps.logger.info('audit: tenant created', { actorId: actor.userId, tenantId: row.id, slug: row.slug, requestId: request.requestId });
      return tenantJson(row);
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/tenants',
    summary: 'List tenants',
    query: listTenantsQuery,
    response: listOf(tenantSchema),
    handle: async ({ deps, query }) => {
      const { rows, total } = await listTenants(deps.database.db, query, query);
      return pageOf(rows.map(tenantJson), total, query);
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/tenants/{id}',
    summary: 'Get a tenant',
    params: idParams,
    response: tenantDetailSchema,
    handle: async ({ deps, params }) => detail(deps, found(await getTenant(deps.database.db, params.id))),
  }),
  route({
    ...base,
    method: 'patch',
    path: '/tenants/{id}',
    summary: 'Update a tenant',
    description: 'Plan, max_users (enforced on the next user created or reactivated), name and settings (merged).',
    params: idParams,
    body: updateTenantBody,
    response: tenantDetailSchema,
    handle: async ({ deps, actor, params, body, request }) => {
      const db = deps.database.db;
      const row = await db.transaction(async (raw) => {
        const tx = raw as unknown as typeof db;
        const current = found(await getTenant(tx, params.id));
        return found(
          await updateTenant(tx, params.id, {
            name: body.name,
            subscriptionPlan: body.subscription_plan,
            maxUsers: body.max_users,
            settings: body.settings ? { ...current.settings, ...body.settings } : undefined,
          }),
        );
      });
      deps.logger.info('audit: tenant updated', { actorId: actor.userId, tenantId: row.id, fields: Object.keys(body), requestId: request.requestId });
      return detail(deps, row);
    },
  }),
  setStatus('suspended', 'Suspend a tenant', "Its users can no longer log in or use sessions, and its tokens stop working on the relay within a second."),
  setStatus('active', 'Reactivate a tenant', 'Lifts a suspension.'),
];
