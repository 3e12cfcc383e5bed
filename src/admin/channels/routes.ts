/** /channels: upstream keys. End users manage their own personal channels; admins every channel of the tenant. */
import { ALL_ROLES, isAdmin } from '../../auth/actor.js';
import { GatewayError } from '../../errors.js';
import { idParams, listOf } from '../common-schemas.js';
import { pageOf } from '../pagination.js';
import { route, type AdminRoute } from '../route-def.js';
import { testChannel } from './channel-test.js';
import { deleteChannel, listChannels } from './repo.js';
import { channelSchema, channelTestSchema, createChannelBody, listChannelsQuery, updateChannelBody } from './schemas.js';
import { channelJson, createChannel, loadVisibleChannel, setChannelStatusAs, statusValue, updateChannelAs, visibleTo } from './service.js';

const base = { tag: 'Channels', roles: ALL_ROLES, tenantScoped: true } as const;

function toggle(status: 'enabled' | 'disabled'): AdminRoute {
  return route({
    ...base,
    method: 'post',
    path: `/channels/{id}/${status === 'enabled' ? 'enable' : 'disable'}`,
    summary: status === 'enabled' ? 'Enable a channel' : 'Disable a channel',
    description: 'Takes effect on the relay within a second, on every instance.',
    params: idParams,
    response: channelSchema,
    handle: async ({ deps, tx, actor, params }) => channelJson(await tx((db) => setChannelStatusAs(db, actor, params.id, status)), deps.secrets),
  });
}

export const channelRoutes: AdminRoute[] = [
  route({
    ...base,
    method: 'post',
    path: '/channels',
    summary: 'Create a channel',
    description:
      'The key is stored encrypted and never returned (responses show key_masked). End users create personal channels for themselves only; admins create tenant, group and personal channels.',
    body: createChannelBody,
    response: channelSchema,
    status: 201,
    handle: async ({ deps, tx, actor, tenantId, body }) => channelJson(await tx((db) => createChannel(db, deps.secrets, actor, tenantId, body)), deps.secrets),
  }),
  route({
    ...base,
    method: 'get',
    path: '/channels',
    summary: 'List channels',
    description: 'End users see only their own personal channels.',
    query: listChannelsQuery,
    response: listOf(channelSchema),
    handle: async ({ deps, tx, actor, query }) => {
      const own = visibleTo(actor);
      if (!isAdmin(actor) && ((query.scope && query.scope !== 'personal') || (query.owner_id && query.owner_id !== actor.userId) || query.group_id)) {
        // Nothing outside their own personal channels is visible to an end user; an empty page says so without a 403.
        return pageOf([], 0, query);
      }
      const filter = {
        scope: query.scope,
        status: query.status ? statusValue[query.status] : undefined,
        ownerId: query.owner_id,
        groupId: query.group_id,
        type: query.type,
        q: query.q,
        ...own,
      };
      const { rows, total } = await tx((db) => listChannels(db, filter, query));
      return pageOf(rows.map((r) => channelJson(r, deps.secrets)), total, query);
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/channels/{id}',
    summary: 'Get a channel',
    params: idParams,
    response: channelSchema,
    handle: async ({ deps, tx, actor, params }) => channelJson(await tx((db) => loadVisibleChannel(db, actor, params.id)), deps.secrets),
  }),
  route({
    ...base,
    method: 'patch',
    path: '/channels/{id}',
    summary: 'Update a channel',
    description: 'Send `key` to replace the provider key. End users cannot move a channel out of their personal scope.',
    params: idParams,
    body: updateChannelBody,
    response: channelSchema,
    handle: async ({ deps, tx, actor, tenantId, params, body }) =>
      channelJson(await tx((db) => updateChannelAs(db, deps.secrets, actor, tenantId, params.id, body)), deps.secrets),
  }),
  route({
    ...base,
    method: 'delete',
    path: '/channels/{id}',
    summary: 'Delete a channel',
    params: idParams,
    status: 204,
    handle: ({ tx, actor, params }) =>
      tx(async (db) => {
        await loadVisibleChannel(db, actor, params.id);
        if (!(await deleteChannel(db, params.id))) throw new GatewayError('not_found', 'No channel with this id.', { param: 'id' });
        return null;
      }),
  }),
  toggle('enabled'),
  toggle('disabled'),
  route({
    ...base,
    method: 'post',
    path: '/channels/{id}/test',
    summary: 'Test a channel against its upstream',
    description:
      "Sends a one-token completion to the channel's first model (after model_mapping) and reports the upstream's status and the latency. The upstream's own error text is logged, not returned.",
    params: idParams,
    response: channelTestSchema,
    handle: async ({ deps, tx, actor, params }) => {
      // Read in the transaction; call upstream after it, so a slow upstream holds no database connection.
      const row = await tx((db) => loadVisibleChannel(db, actor, params.id));
      return testChannel(row, deps.secrets, deps.logger);
    },
  }),
];
