/** GET /v1/models and /v1/models/{id}: what this token may call, in OpenAI's list shape. */
import type { Context } from 'hono';
import { GatewayError } from '../errors.js';
import { visibleModels } from '../channels/select.js';
import type { Channel } from '../channels/channel.js';
import { authenticate, presentedToken } from './authenticate.js';
import type { RelayDeps } from './relay-deps.js';
import type { RelayEnv } from './routes.js';

const modelObject = (id: string, channel: Channel) => ({
  id,
  object: 'model' as const,
  created: Math.floor(channel.createdAt / 1000),
  owned_by: channel.providerName,
});

export async function listModels(r: RelayDeps, c: Context<RelayEnv>): Promise<Response> {
  const principal = await authenticate(r.principals, presentedToken(c.env.incoming.headers));
  const models = visibleModels(await r.channels.forTenant(principal.tenantId), principal);
  const data = [...models].sort(([a], [b]) => a.localeCompare(b)).map(([id, ch]) => modelObject(id, ch));
  return c.json({ object: 'list', data });
}

export async function getModel(r: RelayDeps, c: Context<RelayEnv>): Promise<Response> {
  const principal = await authenticate(r.principals, presentedToken(c.env.incoming.headers));
  const id = c.req.param('id') ?? '';
  const channel = visibleModels(await r.channels.forTenant(principal.tenantId), principal).get(id);
  if (!channel) throw new GatewayError('model_not_found', `The model '${id}' does not exist`, { param: 'model' });
  return c.json(modelObject(id, channel));
}
