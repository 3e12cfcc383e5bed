/**
 * Which channels may serve a request, and in what order to try them: highest priority tier first,
 * weighted random order inside a tier (One-API's rule), so failover stays in the tier before moving down.
 */
import type { Principal } from '../tokens/principal.js';
import type { Channel } from './channel.js';
import { ChannelStatus } from '../db/schema/provider.js';

/** Whether the principal's user may use the channel at all (config_scope), and the token allows it. */
export function isVisible(channel: Channel, principal: Principal): boolean {
  if (principal.allowedChannels.size > 0 && !principal.allowedChannels.has(channel.id)) return false;
  switch (channel.scope) {
    case 'tenant':
      return true;
    case 'group':
      return channel.groupId !== null && principal.user.groupIds.has(channel.groupId);
    case 'personal':
      return channel.ownerId === principal.userId;
  }
}

export function isUsable(channel: Channel): boolean {
  return channel.status === ChannelStatus.enabled && channel.apiKey !== null && channel.weight > 0;
}

/**
 * The channels that serve `model` to this principal (in one of `formats`, when given): `usable` those enabled and
 * not cooling down; `served` counts them all, so an empty `usable` can tell "no such model" from "none free now".
 */
export function candidates(
  channels: readonly Channel[],
  principal: Principal,
  model: string,
  cooling: (channelId: string) => boolean = () => false,
  /** Whether a channel's API has the endpoint asked for (embeddings are not Anthropic's); all do when absent. */
  offers?: (channel: Channel) => boolean,
): { served: number; usable: Channel[] } {
  let served = 0;
  const usable: Channel[] = [];
  for (const c of channels) {
    if (!c.models.has(model) || !isVisible(c, principal) || (offers && !offers(c))) continue;
    served++;
    if (isUsable(c) && !cooling(c.id)) usable.push(c);
  }
  return { served, usable };
}

/** Attempt order: tiers by descending priority, each tier a weighted random permutation. */
export function attemptOrder(channels: readonly Channel[], random: () => number = Math.random): Channel[] {
  // Stable, and most tenants have a single tier, which it leaves as it is.
  const order = channels.slice().sort((a, b) => b.priority - a.priority);
  for (let start = 0; start < order.length; ) {
    const priority = order[start]!.priority;
    let end = start;
    let total = 0;
    for (; end < order.length && order[end]!.priority === priority; end++) total += order[end]!.weight;
    weightedShuffle(order, start, end, total, random);
    start = end;
  }
  return order;
}

/**
 * Repeated weighted draws without replacement over `order[start, end)`, in place (each pick swapped to the front
 * of what is left): the first pick follows the weights exactly.
 */
function weightedShuffle(order: Channel[], start: number, end: number, total: number, random: () => number): void {
  for (let i = start; i < end - 1; i++) {
    let r = random() * total;
    let j = i;
    for (; j < end - 1; j++) {
      r -= order[j]!.weight;
      if (r < 0) break;
    }
    const picked = order[j]!;
    order[j] = order[i]!;
    order[i] = picked;
    total -= picked.weight;
  }
}

/** The models a principal may call: served by a usable visible channel and allowed by the token. */
export function visibleModels(channels: readonly Channel[], principal: Principal): Map<string, Channel> {
  const models = new Map<string, Channel>();
  for (const c of channels) {
    if (!isUsable(c) || !isVisible(c, principal)) continue;
    for (const m of c.models) {
      if (principal.allowedModels.size > 0 && !principal.allowedModels.has(m)) continue;
      if (!models.has(m)) models.set(m, c);
    }
  }
  return models;
}
