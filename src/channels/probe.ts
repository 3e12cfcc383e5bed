/**
 * The background probe (design.md §3.6): every LYSS_PROBE_INTERVAL_MS, channels in status 3 (their upstream
 * refused the key, or billing) get a minimal request, and one that answers 2xx goes back to status 1.
 * Status 2 (disabled by an admin) is never probed and never changed. Every instance runs the probe; a
 * counter in the shared store lets one instance probe a given channel per interval.
 */
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { LimitStore } from '../store/limit-store.js';
import { ChannelStatus } from '../db/schema/provider.js';
import { protocolFor } from '../relay/adapters/index.js';
import { readCapped, type UpstreamCall, type UpstreamPool } from '../relay/upstream.js';
import type { Channel } from './channel.js';
import type { ChannelCache } from './channel-cache.js';
import { listActiveTenantIds, reenableChannel } from './repo.js';

export interface ChannelProbe {
  /** One pass over every tenant's status-3 channels (the timer calls it; tests may too). */
  runOnce(): Promise<void>;
  /** Stops the timer, aborts probes in flight and waits for the pass to end. */
  stop(): Promise<void>;
}

export interface ProbeOptions {
  db: Db;
  store: LimitStore;
  logger: Logger;
  upstream: UpstreamPool;
  channels: ChannelCache;
  intervalMs: number;
  /** Per-probe deadline; default min(30 s, max(5 s, interval)). */
  timeoutMs?: number;
}

/** A chat model to ask: the first the channel serves, skipping embedding models, which cannot chat. */
export function probeModel(channel: Channel): string | null {
  const models = [...channel.models];
  return models.find((m) => !/embed/i.test(m)) ?? null;
}

/**
 * The cheapest request that proves the key works: a one-token chat completion in the channel's wire
 * format (OpenAI and Azure: /chat/completions; Anthropic: /v1/messages with max_tokens 1).
 */
export function probeCall(channel: Channel): UpstreamCall | null {
  const model = probeModel(channel);
  if (!model) return null;
  const protocol = protocolFor(channel);
  const body: Record<string, unknown> = { model: channel.modelMapping[model] ?? model, messages: [{ role: 'user', content: 'ping' }] };
  body[protocol.maxTokensField(channel, body)] = 1;
  return protocol.call(channel, '/chat/completions', body, { defaultMaxTokens: 1 });
}

export function startChannelProbe(opts: ProbeOptions): ChannelProbe {
  const timeoutMs = opts.timeoutMs ?? Math.min(30_000, Math.max(5_000, opts.intervalMs));
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  async function probe(channel: Channel): Promise<void> {
    // One instance per channel per interval; the window is a little shorter than the interval so timer
    // drift on this instance never skips a round.
    const turn = await opts.store.hit(`{${channel.tenantId}}:probe:${channel.id}`, Math.max(50, Math.floor(opts.intervalMs * 0.8)));
    if (turn !== 1) return;
    let call: UpstreamCall | null;
    try {
      call = probeCall(channel);
    } catch (err) {
      opts.logger.warn('channel probe cannot build a request', { channelId: channel.id, err });
      return;
    }
    if (!call) return;
    const startedAt = Date.now();
    const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)]);
    let status: number;
    let text = '';
    try {
      const res = await opts.upstream.send(call, signal);
      status = res.status;
      text = await readCapped(res.body, 2048);
    } catch (err) {
      if (!stopping.signal.aborted) opts.logger.info('channel probe got no answer', { channelId: channel.id, err });
      return;
    }
    if (status < 200 || status >= 300) {
      opts.logger.info('channel probe still refused', { channelId: channel.id, status, body: text.slice(0, 500) });
      return;
    }
    const latencyMs = Date.now() - startedAt;
    if (await reenableChannel(opts.db, channel.tenantId, channel.id, `probe: answered ${status} in ${latencyMs} ms`)) {
      opts.logger.info('channel re-enabled by probe', { channelId: channel.id, latencyMs });
    }
  }

  async function runOnce(): Promise<void> {
    const tenants = await listActiveTenantIds(opts.db);
    for (const tenantId of tenants) {
      if (stopping.signal.aborted) return;
      const errored = (await opts.channels.forTenant(tenantId)).filter((c) => c.status === ChannelStatus.error && c.apiKey !== null);
      await Promise.all(
        errored.map((c) => probe(c).catch((err) => opts.logger.error('channel probe failed', { channelId: c.id, err }))),
      );
    }
  }

  const schedule = () => {
    timer = setTimeout(() => {
      timer = null;
      running = runOnce()
        .catch((err) => opts.logger.error('channel probe pass failed', { err }))
        .finally(() => {
          running = null;
          if (!stopping.signal.aborted) schedule();
        });
    }, opts.intervalMs);
    timer.unref();
  };
  schedule();

  return {
    runOnce,
    async stop() {
      stopping.abort();
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
