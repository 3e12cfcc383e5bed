/** GET /usage: aggregated usage over a time range. End users see only their own. */
import { ALL_ROLES, isAdmin } from '../../auth/actor.js';
import { GatewayError } from '../../errors.js';
import { route, type AdminRoute } from '../route-def.js';
import { messageUsage, tokenUsage } from './repo.js';
import { usageQuery, usageSchema } from './schemas.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_RANGE_DAYS = 400;

export const usageRoutes: AdminRoute[] = [
  route({
    tag: 'Usage',
    roles: ALL_ROLES,
    tenantScoped: true,
    method: 'get',
    path: '/usage',
    summary: 'Usage by day, token, channel, model or user',
    description: `Over [from, to) (at most ${MAX_RANGE_DAYS} days; default the last 30). Message-based totals need the tenant to store content (settings.store_content); per-token totals are lifetime quota units.`,
    query: usageQuery,
    response: usageSchema,
    handle: async ({ tx, actor, query }) => {
      const to = query.to ? new Date(query.to) : new Date();
      const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
      if (from >= to) throw new GatewayError('invalid_request_error', 'from: must be before to', { param: 'from' });
      if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) {
        throw new GatewayError('invalid_request_error', `from: the range must be at most ${MAX_RANGE_DAYS} days`, { param: 'from' });
      }
      const own = !isAdmin(actor);
      const range = { from: from.toISOString(), to: to.toISOString() };
      if (own && query.user_id && query.user_id !== actor.userId) {
        return { group_by: query.group_by, ...range, source: query.group_by === 'token' ? 'provider_tokens' : 'chat_messages', data: [] };
      }
      const userId = own ? actor.userId : query.user_id;
      const group = query.group_by;
      if (group === 'token') {
        return { group_by: query.group_by, ...range, source: 'provider_tokens', data: await tx((db) => tokenUsage(db, { userId })) };
      }
      const data = await tx((db) => messageUsage(db, group, { from, to, userId, channelId: query.channel_id, model: query.model }));
      return { group_by: query.group_by, ...range, source: 'chat_messages', data };
    },
  }),
];
