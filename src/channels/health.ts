/**
 * Channel health. A key upstream refuses (401/403, billing) puts the channel in status 3 in the database,
 * which every instance hears through the change notification. Transient failures (5xx, 429, timeouts) are
 * counted in the shared store; N of them within the window put the channel in a short cool-down that is
 * broadcast to every instance, so no instance pays a store round trip per request to ask.
 * Per-channel request, failure and latency counters are kept here for the metrics endpoint.
 * The way back from status 3 is the background probe (probe.ts); status 2 (an admin's) is never changed here.
 */
import type { LimitStore } from '../store/limit-store.js';
import type { Logger } from '../logger.js';
import type { Channel } from './channel.js';

export const COOLDOWN_CHANNEL = 'lyss:cooldown';

export interface ChannelStats {
  requests: number;
  failures: number;
  latencyMsTotal: number;
  lastError: string | null;
}

export type FailureKind = 'transient' | 'auth' | 'billing';

export interface ChannelHealth {
  cooling(channelId: string): boolean;
  success(channel: Channel, latencyMs: number): void;
  failure(channel: Channel, kind: FailureKind, reason: string): void;
  stats(): ReadonlyMap<string, ChannelStats>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface HealthOptions {
  store: LimitStore;
  logger: Logger;
  failures: number;
  windowMs: number;
  cooldownMs: number;
  /** Persists status 3 with its reason (src/channels/repo.ts setChannelStatus). */
  markError: (channel: Channel, reason: string) => Promise<void>;
}

export function createChannelHealth(opts: HealthOptions): ChannelHealth {
  const coolingUntil = new Map<string, number>();
  const stats = new Map<string, ChannelStats>();
  let unsubscribe: (() => Promise<void>) | null = null;

  const statsOf = (id: string) => {
    let s = stats.get(id);
    if (!s) stats.set(id, (s = { requests: 0, failures: 0, latencyMsTotal: 0, lastError: null }));
    return s;
  };

  async function countTransient(channel: Channel, reason: string): Promise<void> {
    const count = await opts.store.hit(`{${channel.tenantId}}:fail:${channel.id}`, opts.windowMs);
    // At N and beyond, not only at exactly N: a failure right after a cool-down ends, while the window still
    // holds N, starts the next one (the first request after a cool-down is the channel's trial).
    if (count >= opts.failures && !isCooling(channel.id)) {
      const until = Date.now() + opts.cooldownMs;
      coolingUntil.set(channel.id, until);
      opts.logger.warn('channel cooling down', { channelId: channel.id, failures: count, cooldownMs: opts.cooldownMs, reason });
      await opts.store.publish(COOLDOWN_CHANNEL, JSON.stringify({ id: channel.id, until }));
    }
  }

  function isCooling(channelId: string): boolean {
    const until = coolingUntil.get(channelId);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    coolingUntil.delete(channelId);
    return false;
  }

  return {
    cooling: isCooling,
    success(channel, latencyMs) {
      const s = statsOf(channel.id);
      s.requests++;
      s.latencyMsTotal += latencyMs;
    },
    failure(channel, kind, reason) {
      const s = statsOf(channel.id);
      s.requests++;
      s.failures++;
      s.lastError = reason;
      const work = kind === 'transient' ? countTransient(channel, reason) : opts.markError(channel, `${kind}: ${reason}`);
      work.catch((err) => opts.logger.error('channel health update failed', { err, channelId: channel.id }));
    },
    stats: () => stats,
    async start() {
      unsubscribe = await opts.store.subscribe(COOLDOWN_CHANNEL, (message) => {
        try {
          const { id, until } = JSON.parse(message) as { id: string; until: number };
          if (until > Date.now()) coolingUntil.set(id, until);
        } catch {
          // A malformed broadcast is ignored: cool-down is an optimisation, never a correctness rule.
        }
      });
    },
    async stop() {
      await unsubscribe?.();
    },
  };
}
