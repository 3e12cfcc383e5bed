/** /groups: tenant admins manage user groups and their members (membership changes reach the relay at once). */
import { ADMIN_ROLES } from '../../auth/actor.js';
import { GatewayError } from '../../errors.js';
import { idParams, listOf } from '../common-schemas.js';
import { pageOf } from '../pagination.js';
import { requireGroup, requireUser } from '../references.js';
import { route, type AdminRoute } from '../route-def.js';
import {
  countGroupChannels,
  deleteGroup,
  deleteMember,
  getGroup,
  getMember,
  groupJson,
  insertGroup,
  insertMember,
  listGroups,
  listMembers,
  memberJson,
  updateGroup,
  updateMemberRole,
} from './repo.js';
import {
  addMemberBody,
  createGroupBody,
  groupSchema,
  listGroupsQuery,
  listMembersQuery,
  memberParams,
  memberSchema,
  updateGroupBody,
  updateMemberBody,
} from './schemas.js';
import type { Db } from '../../db/client.js';

const base = { tag: 'Groups', roles: ADMIN_ROLES, tenantScoped: true } as const;
const groupNotFound = () => new GatewayError('not_found', 'No group with this id.', { param: 'id' });
const memberNotFound = () => new GatewayError('not_found', 'This user is not a member of the group.', { param: 'user_id' });

async function loadGroup(tx: Db, id: string) {
  const row = await getGroup(tx, id);
  if (!row) throw groupNotFound();
  return groupJson(row);
}

export const groupRoutes: AdminRoute[] = [
  route({
    ...base,
    method: 'post',
    path: '/groups',
    summary: 'Create a group',
    body: createGroupBody,
    response: groupSchema,
    status: 201,
    handle: ({ tx, actor, tenantId, body }) =>
      tx(async (db) => {
        // A super admin acting for another tenant is not one of its users.
        const createdBy = actor.tenantId === tenantId ? actor.userId : null;
        const { id } = await insertGroup(db, tenantId, { name: body.name, description: body.description, createdBy });
        return loadGroup(db, id);
      }),
  }),
  route({
    ...base,
    method: 'get',
    path: '/groups',
    summary: 'List groups',
    query: listGroupsQuery,
    response: listOf(groupSchema),
    handle: async ({ tx, query }) => {
      const { rows, total } = await tx((db) => listGroups(db, query, query));
      return pageOf(rows.map(groupJson), total, query);
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/groups/{id}',
    summary: 'Get a group',
    params: idParams,
    response: groupSchema,
    handle: ({ tx, params }) => tx((db) => loadGroup(db, params.id)),
  }),
  route({
    ...base,
    method: 'patch',
    path: '/groups/{id}',
    summary: 'Rename a group or change its description',
    params: idParams,
    body: updateGroupBody,
    response: groupSchema,
    handle: ({ tx, params, body }) =>
      tx(async (db) => {
        if (!(await updateGroup(db, params.id, body))) throw groupNotFound();
        return loadGroup(db, params.id);
      }),
  }),
  route({
    ...base,
    method: 'delete',
    path: '/groups/{id}',
    summary: 'Delete a group',
    description: 'Refused (409) while group-scoped channels use it: deleting the group would delete them.',
    params: idParams,
    status: 204,
    handle: ({ tx, params }) =>
      tx(async (db) => {
        await requireGroup(db, params.id, 'id');
        const channels = await countGroupChannels(db, params.id);
        if (channels > 0) throw new GatewayError('conflict', `The group has ${channels} group-scoped channel(s); move or delete them first.`, { param: 'id' });
        await deleteGroup(db, params.id);
        return null;
      }),
  }),
  route({
    ...base,
    method: 'get',
    path: '/groups/{id}/members',
    summary: 'List the members of a group',
    params: idParams,
    query: listMembersQuery,
    response: listOf(memberSchema),
    handle: ({ tx, params, query }) =>
      tx(async (db) => {
        await requireGroup(db, params.id, 'id');
        const { rows, total } = await listMembers(db, params.id, query);
        return pageOf(rows.map(memberJson), total, query);
      }),
  }),
  route({
    ...base,
    method: 'post',
    path: '/groups/{id}/members',
    summary: 'Add a member to a group',
    params: idParams,
    body: addMemberBody,
    response: memberSchema,
    status: 201,
    handle: ({ tx, tenantId, params, body }) =>
      tx(async (db) => {
        await requireGroup(db, params.id, 'id');
        await requireUser(db, body.user_id, 'user_id');
        if (await getMember(db, params.id, body.user_id)) throw new GatewayError('conflict', 'user_id: is already a member', { param: 'user_id' });
        await insertMember(db, tenantId, params.id, body.user_id, body.role);
        return memberJson((await getMember(db, params.id, body.user_id))!);
      }),
  }),
  route({
    ...base,
    method: 'patch',
    path: '/groups/{id}/members/{user_id}',
    summary: "Change a member's role in the group",
    params: memberParams,
    body: updateMemberBody,
    response: memberSchema,
    handle: ({ tx, params, body }) =>
      tx(async (db) => {
        await requireGroup(db, params.id, 'id');
        if (!(await updateMemberRole(db, params.id, params.user_id, body.role))) throw memberNotFound();
        return memberJson((await getMember(db, params.id, params.user_id))!);
      }),
  }),
  route({
    ...base,
    method: 'delete',
    path: '/groups/{id}/members/{user_id}',
    summary: 'Remove a member from a group',
    params: memberParams,
    status: 204,
    handle: ({ tx, params }) =>
      tx(async (db) => {
        await requireGroup(db, params.id, 'id');
        if (!(await deleteMember(db, params.id, params.user_id))) throw memberNotFound();
        return null;
      }),
  }),
];
