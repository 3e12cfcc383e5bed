/**
 * /tokens: relay tokens. The full token is returned once, at creation. Every change notifies the relay
 * (drizzle/0004), so a disabled or deleted token stops working within a second on every instance.
 */
import { ALL_ROLES, isAdmin } from '../../auth/actor.js';
import { TokenStatus } from '../../db/schema/provider.js';
import { idParams, listOf } from '../common-schemas.js';
import { pageOf } from '../pagination.js';
import { route, type AdminRoute } from '../route-def.js';
import { deleteToken, listTokens, tokenJson } from './repo.js';
import { createdTokenSchema, createTokenBody, listTokensQuery, tokenSchema, updateTokenBody } from './schemas.js';
import { createToken, loadVisibleToken, tokensVisibleTo, updateTokenAs } from './service.js';

const base = { tag: 'Tokens', roles: ALL_ROLES, tenantScoped: true } as const;
const statusValue = { enabled: TokenStatus.enabled, disabled: TokenStatus.disabled, expired: TokenStatus.expired } as const;

export const tokenRoutes: AdminRoute[] = [
  route({
    ...base,
    method: 'post',
    path: '/tokens',
    summary: 'Create a token',
    description: 'The response carries the full token in `key`, the only time it is shown. End users create tokens for themselves and cannot set quota or rate_limit.',
    body: createTokenBody,
    response: createdTokenSchema,
    status: 201,
    handle: async ({ tx, actor, tenantId, body }) => {
      const { row, key } = await tx((db) => createToken(db, actor, tenantId, body));
      return { ...tokenJson(row), key };
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/tokens',
    summary: 'List tokens',
    description: 'End users see their own tokens only. Only the key prefix is shown.',
    query: listTokensQuery,
    response: listOf(tokenSchema),
    handle: async ({ tx, actor, query }) => {
      if (!isAdmin(actor) && query.user_id && query.user_id !== actor.userId) return pageOf([], 0, query);
      const filter = { userId: query.user_id, status: query.status ? statusValue[query.status] : undefined, q: query.q, ...tokensVisibleTo(actor) };
      const { rows, total } = await tx((db) => listTokens(db, filter, query));
      return pageOf(rows.map(tokenJson), total, query);
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/tokens/{id}',
    summary: 'Get a token',
    params: idParams,
    response: tokenSchema,
    handle: async ({ tx, actor, params }) => tokenJson(await tx((db) => loadVisibleToken(db, actor, params.id))),
  }),
  route({
    ...base,
    method: 'patch',
    path: '/tokens/{id}',
    summary: 'Update a token',
    description: 'Allowed models and channels, quota, rate limit, expiry and status. End users cannot raise limits or re-enable a disabled token.',
    params: idParams,
    body: updateTokenBody,
    response: tokenSchema,
    handle: async ({ tx, actor, params, body }) => tokenJson(await tx((db) => updateTokenAs(db, actor, params.id, body))),
  }),
  route({
    ...base,
    method: 'delete',
    path: '/tokens/{id}',
    summary: 'Delete a token',
    params: idParams,
    status: 204,
    handle: ({ tx, actor, params }) =>
      tx(async (db) => {
        await loadVisibleToken(db, actor, params.id);
        await deleteToken(db, params.id);
        return null;
      }),
  }),
];
