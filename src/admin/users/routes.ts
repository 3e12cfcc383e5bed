/** /users: tenant admins manage their tenant's users (super admins any tenant's, via /tenants/{tenant_id}). */
import { ADMIN_ROLES } from '../../auth/actor.js';
import { idParams, listOf } from '../common-schemas.js';
import { pageOf } from '../pagination.js';
import { route, type AdminRoute } from '../route-def.js';
import { getUser, listUsers, userJson } from './repo.js';
import { createUserBody, listUsersQuery, updateUserBody, userSchema } from './schemas.js';
import { createUser, hashIfGiven, updateUserAs, userNotFound } from './service.js';
import { hashPassword } from '../../auth/password.js';

const tag = 'Users';
const base = { tag, roles: ADMIN_ROLES, tenantScoped: true } as const;

export const userRoutes: AdminRoute[] = [
  route({
    ...base,
    method: 'post',
    path: '/users',
    summary: 'Create a user',
    description: 'Refused with 403 max_users_reached when the tenant already has max_users active users. Only a super admin can create a super_admin.',
    body: createUserBody,
    response: userSchema,
    status: 201,
    handle: async ({ tx, actor, tenantId, body }) => {
      const hashed = await hashPassword(body.password);
      return userJson(await tx((db) => createUser(db, actor, tenantId, body, hashed)));
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/users',
    summary: 'List users',
    query: listUsersQuery,
    response: listOf(userSchema),
    handle: async ({ tx, query }) => {
      const { rows, total } = await tx((db) => listUsers(db, query, query));
      return pageOf(rows.map(userJson), total, query);
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/users/{id}',
    summary: 'Get a user',
    params: idParams,
    response: userSchema,
    handle: async ({ tx, params }) => {
      const row = await tx((db) => getUser(db, params.id));
      if (!row) throw userNotFound();
      return userJson(row);
    },
  }),
  route({
    ...base,
    method: 'patch',
    path: '/users/{id}',
    summary: 'Update a user',
    description:
      'Changing status away from active, resetting the password or changing the role signs the user out everywhere. Nobody can change their own role or deactivate themselves here.',
    params: idParams,
    body: updateUserBody,
    response: userSchema,
    handle: async ({ tx, actor, tenantId, params, body }) => {
      const hashed = await hashIfGiven(body.password);
      return userJson(await tx((db) => updateUserAs(db, actor, tenantId, params.id, body, hashed)));
    },
  }),
  route({
    ...base,
    method: 'post',
    path: '/users/{id}/deactivate',
    summary: 'Deactivate a user',
    description: 'Sets status inactive and ends their sessions; their tokens stop working on the relay within a second.',
    params: idParams,
    response: userSchema,
    handle: async ({ tx, actor, tenantId, params }) =>
      userJson(await tx((db) => updateUserAs(db, actor, tenantId, params.id, { status: 'inactive' }))),
  }),
  route({
    ...base,
    method: 'post',
    path: '/users/{id}/activate',
    summary: 'Reactivate a user',
    description: 'Sets status active (counted against max_users) and lifts a login lockout.',
    params: idParams,
    response: userSchema,
    handle: async ({ tx, actor, tenantId, params }) =>
      userJson(await tx((db) => updateUserAs(db, actor, tenantId, params.id, { status: 'active' }))),
  }),
];
