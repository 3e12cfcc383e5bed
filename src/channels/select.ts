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

/** Enabled, visible channels serving `model`, minus those cooling down. */
export function candidates(channels: readonly Channel[], principal: Principal, model: string, cooling: (channelId: string) => boolean = () => false): Channel[] {
  return channels.filter((c) => c.models.has(model) && isUsable(c) && isVisible(c, principal) && !cooling(c.id));
}

/** Attempt order: tiers by descending priority, each tier a weighted random permutation. */
export function attemptOrder(channels: readonly Channel[], random: () => number = Math.random): Channel[] {
  const tiers = new Map<number, Channel[]>();
  for (const c of channels) {
    const tier = tiers.get(c.priority);
    if (tier) tier.push(c);
    else tiers.set(c.priority, [c]);
  }
  const order: Channel[] = [];
  for (const priority of [...tiers.keys()].sort((a, b) => b - a)) order.push(...weightedShuffle(tiers.get(priority)!, random));
  return order;
}

// Repeated weighted draws without replacement: the first pick follows the weights exactly.
function weightedShuffle(tier: Channel[], random: () => number): Channel[] {
  const left = [...tier];
  const out: Channel[] = [];
  let total = left.reduce((sum, c) => sum + c.weight, 0);
  while (left.length > 0) {
    let r = random() * total;
    let i = 0;
    for (; i < left.length - 1; i++) {
      r -= left[i]!.weight;
      if (r < 0) break;
    }
    const [picked] = left.splice(i, 1);
    total -= picked!.weight;
    out.push(picked!);
  }
  return out;
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
