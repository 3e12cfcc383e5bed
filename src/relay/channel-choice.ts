/** Steps 3-4: the channels that may serve this request, in the order to try them. */
import { GatewayError } from '../errors.js';
import type { Channel } from '../channels/channel.js';
import { attemptOrder, candidates } from '../channels/select.js';
import type { Principal } from '../tokens/principal.js';
import type { RelayDeps } from './relay-deps.js';

/** An endpoint only some channels' APIs have: which channels offer it, and what the others offer instead. */
export interface EndpointScope {
  offers(channel: Channel): boolean;
  /** Ends "the channels serving it ...", for a model that only other channels serve. */
  othersOffer: string;
}

export async function chooseChannels(r: RelayDeps, principal: Principal, model: string, scope?: EndpointScope): Promise<Channel[]> {
  const all = await r.channels.forTenant(principal.tenantId);
  const { served, usable } = candidates(all, principal, model, (id) => r.health.cooling(id), scope?.offers);
  if (served === 0) throw notServed(all, principal, model, scope);
  if (usable.length === 0) {
    throw new GatewayError('no_available_channel', `No channel is available for the model \`${model}\` right now. Please try again later.`);
  }
  return attemptOrder(usable);
}

/** Throws as chooseChannels does unless some channel serves the model to this token, cooling down or not. */
export async function checkServed(r: RelayDeps, principal: Principal, model: string): Promise<void> {
  const all = await r.channels.forTenant(principal.tenantId);
  if (candidates(all, principal, model, () => false).served === 0) throw notServed(all, principal, model);
}

function notServed(all: readonly Channel[], principal: Principal, model: string, scope?: EndpointScope): GatewayError {
  // Served elsewhere, but only by channels whose API lacks this endpoint (an Anthropic model's embeddings).
  if (scope && candidates(all, principal, model, () => false).served > 0) {
    return new GatewayError('model_not_found', `The model \`${model}\` is not available on this endpoint: the channels serving it ${scope.othersOffer}.`, { param: 'model' });
  }
  return new GatewayError('model_not_found', `The model \`${model}\` does not exist or you do not have access to it.`, { param: 'model' });
}
