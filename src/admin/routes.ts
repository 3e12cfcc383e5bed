/**
 * The admin API under /api: sessions, tenants, users, groups, channels, tokens, usage and conversations,
 * with its OpenAPI document (/api/openapi.json) and a docs page (/api/docs). Every tenant-scoped query
 * runs in the acting tenant's Row Level Security transaction.
 */
import { Hono } from 'hono';
import type { Deps } from '../deps.js';
import type { AdminRoute } from './route-def.js';
import { register, type AdminEnv } from './register.js';
import { buildOpenApi } from './openapi.js';
import { DOCS_PAGE } from './docs-page.js';
import { authRoutes } from './auth/routes.js';
import { tenantRoutes } from './tenants/routes.js';
import { userRoutes } from './users/routes.js';
import { groupRoutes } from './groups/routes.js';
import { channelRoutes } from './channels/routes.js';
import { tokenRoutes } from './tokens/routes.js';
import { usageRoutes } from './usage/routes.js';
import { conversationRoutes } from './conversations/routes.js';

export type { AdminEnv } from './register.js';

export const allAdminRoutes: readonly AdminRoute[] = [
  ...authRoutes,
  ...tenantRoutes,
  ...userRoutes,
  ...groupRoutes,
  ...channelRoutes,
  ...tokenRoutes,
  ...usageRoutes,
  ...conversationRoutes,
];

export function adminRoutes(deps: Deps): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  const openapi = buildOpenApi(allAdminRoutes);
  app.get('/openapi.json', (c) => c.json(openapi));
  app.get('/docs', (c) => c.html(DOCS_PAGE));
  register(app, deps, allAdminRoutes);
  return app;
}
