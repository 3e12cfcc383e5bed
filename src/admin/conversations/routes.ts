/** /conversations: list, read (with messages), archive and delete. End users reach only their own. */
import { ALL_ROLES, isAdmin, type Actor } from '../../auth/actor.js';
import { GatewayError } from '../../errors.js';
import { idParams, listOf } from '../common-schemas.js';
import { pageOf } from '../pagination.js';
import { route, type AdminRoute } from '../route-def.js';
import type { Db } from '../../db/client.js';
import {
  conversationJson,
  conversationMessages,
  deleteConversation,
  getConversation,
  listConversations,
  setConversationStatus,
  type ConversationFilter,
} from './repo.js';
import { conversationDetailSchema, conversationSchema, listConversationsQuery } from './schemas.js';

const base = { tag: 'Conversations', roles: ALL_ROLES, tenantScoped: true } as const;
const MESSAGE_LIMIT = 1000;
const notFound = () => new GatewayError('not_found', 'No conversation with this id.', { param: 'id' });

const visibleTo = (actor: Actor): ConversationFilter => (isAdmin(actor) ? {} : { userId: actor.userId });

async function loadVisible(tx: Db, actor: Actor, id: string) {
  const row = await getConversation(tx, id, visibleTo(actor));
  if (!row) throw notFound();
  return row;
}

export const conversationRoutes: AdminRoute[] = [
  route({
    ...base,
    method: 'get',
    path: '/conversations',
    summary: 'List conversations',
    description: 'Most recently updated first. Admins may filter by user_id; end users see their own.',
    query: listConversationsQuery,
    response: listOf(conversationSchema),
    handle: async ({ tx, actor, query }) => {
      if (!isAdmin(actor) && query.user_id && query.user_id !== actor.userId) return pageOf([], 0, query);
      const { rows, total } = await tx((db) => listConversations(db, { userId: query.user_id, status: query.status, q: query.q, ...visibleTo(actor) }, query));
      return pageOf(rows.map(conversationJson), total, query);
    },
  }),
  route({
    ...base,
    method: 'get',
    path: '/conversations/{id}',
    summary: 'Get a conversation with its messages',
    description: `Messages oldest first, at most ${MESSAGE_LIMIT} (messages_truncated says when there are more).`,
    params: idParams,
    response: conversationDetailSchema,
    handle: ({ tx, actor, params }) =>
      tx(async (db) => {
        const row = await loadVisible(db, actor, params.id);
        const { messages, truncated } = await conversationMessages(db, row.id, MESSAGE_LIMIT);
        return { ...conversationJson(row), messages, messages_truncated: truncated };
      }),
  }),
  route({
    ...base,
    method: 'post',
    path: '/conversations/{id}/archive',
    summary: 'Archive a conversation',
    params: idParams,
    response: conversationSchema,
    handle: ({ tx, actor, params }) =>
      tx(async (db) => {
        await loadVisible(db, actor, params.id);
        return conversationJson((await setConversationStatus(db, params.id, 'archived'))!);
      }),
  }),
  route({
    ...base,
    method: 'delete',
    path: '/conversations/{id}',
    summary: 'Delete a conversation and its messages',
    params: idParams,
    status: 204,
    handle: ({ tx, actor, tenantId, params }) =>
      tx(async (db) => {
        await loadVisible(db, actor, params.id);
        await deleteConversation(db, tenantId, params.id);
        return null;
      }),
  }),
];
