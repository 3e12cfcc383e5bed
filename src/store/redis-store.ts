/**
 * LimitStore on Redis or Redis Cluster via ioredis: every operation is one Lua script, one round trip; the
 * admits, settles and releases of one round of I/O share a script call (script-batch.ts).
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { AdmitResult, LimitStore } from './limit-store.js';
import {
  deliver,
  GCRA_EPSILON_MS,
  normalizeAdmit,
  RATE_WINDOW_MS,
  SETTLED_MEMORY_MS,
  uniqueKeys,
} from './limit-rules.js';
import { scripts, type LuaScript } from './redis-scripts.js';
import { createScriptBatcher, type ScriptArg } from './script-batch.js';
import { withTimeout } from '../with-timeout.js';

export interface RedisStoreOptions {
  /** `redis://host:port`, or a comma-separated list of cluster nodes for Redis Cluster. */
  url: string;
  /** Prepended to every key and channel (must not contain `{`, or it would replace the caller's hash tag). */
  keyPrefix?: string;
}

type Client = Redis | Cluster;
type Handler = (message: string) => void;

/** Bounds the set of counters known to be seeded (tokens and channels); past it, the admits seed them again. */
const MAX_SEEDED = 200_000;

/** Readiness must answer even when the client is stuck reconnecting with the command queued. */
const PING_TIMEOUT_MS = 2_000;

/**
 * Fail a command after one reconnect attempt instead of ioredis's default twenty: a request waiting
 * on limits is better refused (fail-closed) or let through (fail-open) quickly by the caller.
 */
// No auto-pipelining: admits, settles and releases are batched per script (script-batch.ts), which saves the
// client's per-command work as well as the socket writes; the few other commands go out as they come.
const CLIENT_OPTIONS: RedisOptions = { maxRetriesPerRequest: 1, connectTimeout: 2_000 };

export function createRedisStore(opts: RedisStoreOptions): LimitStore {
  const prefix = opts.keyPrefix ?? '';
  if (prefix.includes('{')) throw new Error('keyPrefix must not contain "{": it would replace the hash tag');
  const client = connect(opts.url);
  const channels = new Map<string, { handlers: Set<Handler>; ready: Promise<unknown> }>();
  let subscriber: Client | null = null;
  let closed = false;

  const key = (k: string): string => prefix + k;
  const quotaKeys = (k: string): string[] => [key(k), key(k) + ':r', key(k) + ':e'];
  // Standalone Redis runs any keys in one script; a Cluster only one slot's.
  const slotOf = client instanceof Cluster ? hashTag : () => '';
  const batched = (script: LuaScript) => createScriptBatcher((keys, args) => run(client, script, keys, args), slotOf);
  const admitScript = batched(scripts.admit);
  const settleScript = batched(scripts.settle);
  const releaseScript = batched(scripts.release);

  // Quota counters this process has seen seeded (by an admit or setQuotaUsed) since its connection last dropped:
  // a Redis that restarted or failed over may have lost them, so a drop forgets them all.
  const seeded = new Set<string>();
  const forgetSeeded = () => seeded.clear();
  for (const event of ['close', 'reconnecting', 'end', '-node', '+node']) client.on(event, forgetSeeded);
  const markSeeded = (k: string) => {
    if (seeded.size >= MAX_SEEDED) seeded.clear();
    seeded.add(k);
  };

  // A closed ioredis Cluster would queue commands until a timeout; refuse them at once instead.
  function assertOpen(): void {
    if (closed) throw new Error('limit store is closed');
  }

  function subscriberConnection(): Client {
    if (subscriber) return subscriber;
    const sub: Client = client instanceof Cluster ? client.duplicate() : client.duplicate();
    sub.on('error', ignoreConnectionError);
    sub.on('message', (channel: string, message: string) => {
      for (const handler of channels.get(channel)?.handlers ?? []) deliver(handler, channel, message);
    });
    subscriber = sub;
    return sub;
  }

  return {
    async admit(raw): Promise<AdmitResult> {
      assertOpen();
      const req = normalizeAdmit(raw);
      // Nothing to check and every counter already held: the script would only seed them, so the round trip
      // is saved; the settle still counts the spend on them.
      if (req.rateLimits.every((r) => r.limit <= 0) && req.quotas.every((q) => q.limit < 0 && seeded.has(q.key))) {
        return { ok: true, reserved: req.desired };
      }
      const keys: string[] = [];
      const args: ScriptArg[] = [req.rateLimits.length, req.quotas.length, req.reservationId, req.desired, req.minimum, req.ttlMs, RATE_WINDOW_MS, GCRA_EPSILON_MS, req.expiresAsSpent ? 1 : 0];
      for (const r of req.rateLimits) {
        keys.push(key(r.key));
        args.push(r.limit, r.count ?? 1);
      }
      for (const q of req.quotas) {
        const k = key(q.key);
        keys.push(k, k + ':r', k + ':e');
        args.push(q.limit, q.baseline);
      }
      const reply = await admitScript(keys, args);
      if (!Array.isArray(reply)) throw unexpected('admit', reply);
      const [kind, a, b] = reply as unknown[];
      if (kind === 'ok') {
        for (const q of req.quotas) markSeeded(q.key);
        return { ok: true, reserved: toNumber(a) };
      }
      if (kind === 'rate') {
        const spec = req.rateLimits[toNumber(a) - 1];
        if (spec) return { ok: false, reason: 'rate_limited', key: spec.key, retryAfterMs: toNumber(b) };
      }
      if (kind === 'quota') {
        const spec = req.quotas[toNumber(a) - 1];
        if (spec) return { ok: false, reason: 'insufficient_quota', key: spec.key, remaining: toNumber(b) };
      }
      throw unexpected('admit', reply);
    },

    async settle(keys, reservationId, actual) {
      assertOpen();
      const unique = uniqueKeys(keys);
      if (unique.length === 0) return;
      const all = unique.flatMap(quotaKeys);
      all.push(key(unique[0]!) + ':s');
      await settleScript(all, [reservationId, actual, SETTLED_MEMORY_MS]);
    },

    async release(keys, reservationId) {
      assertOpen();
      const unique = uniqueKeys(keys);
      if (unique.length === 0) return;
      await releaseScript(unique.flatMap(quotaKeys), [reservationId]);
    },

    holdsCounter(k) {
      return !closed && seeded.has(k);
    },

    async quotaUsed(k) {
      assertOpen();
      const reply = await run(client, scripts.quotaUsed, quotaKeys(k), []);
      return reply === null ? null : toNumber(reply);
    },

    async setQuotaUsed(k, used) {
      assertOpen();
      await run(client, scripts.setQuotaUsed, [key(k)], [used]);
      markSeeded(k);
    },

    async hit(k, windowMs, by = 1) {
      assertOpen();
      return toNumber(await run(client, scripts.hit, [key(k)], [windowMs, by]));
    },

    async putValue(k, value, ttlMs) {
      assertOpen();
      await client.set(key(k), value, 'PX', ttlMs);
    },
    async getValue(k) {
      assertOpen();
      return client.get(key(k));
    },
    async publish(channel, message) {
      assertOpen();
      await client.publish(key(channel), message);
    },

    async subscribe(channel, handler) {
      assertOpen();
      const full = key(channel);
      const sub = subscriberConnection();
      let entry = channels.get(full);
      if (!entry) {
        const created = { handlers: new Set<Handler>(), ready: sub.subscribe(full) };
        // A failed SUBSCRIBE must not stick: the next subscribe to this channel tries again.
        created.ready.catch(() => {
          if (channels.get(full) === created) channels.delete(full);
        });
        channels.set(full, created);
        entry = created;
      }
      // A wrapper per call, so subscribing one function twice yields two independent unsubscribes.
      const own: Handler = (message) => handler(message);
      entry.handlers.add(own);
      // Every caller waits for the SUBSCRIBE, not just the first, so nothing published after is missed.
      await entry.ready;
      return async () => {
        const current = channels.get(full);
        if (!current?.handlers.delete(own) || current.handlers.size > 0) return;
        channels.delete(full);
        await sub.unsubscribe(full);
      };
    },

    async ping() {
      assertOpen();
      await withTimeout(client.ping(), PING_TIMEOUT_MS, 'redis ping timed out');
    },

    async close() {
      closed = true;
      channels.clear();
      await Promise.all([shutdown(client), subscriber ? shutdown(subscriber) : undefined]);
    },
  };
}

/** A single node for one URL; a Cluster when the URL is a comma-separated node list. */
function connect(url: string): Client {
  const urls = url
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  const first = urls[0];
  if (!first) throw new Error('REDIS_URL is empty');
  const client: Client =
    urls.length === 1
      ? new Redis(first, CLIENT_OPTIONS)
      : new Cluster(urls.map(clusterNode), { redisOptions: { ...CLIENT_OPTIONS, ...credentials(first) } });
  client.on('error', ignoreConnectionError);
  return client;
}

function clusterNode(url: string): ClusterNode {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : 6379 };
}

function credentials(url: string): RedisOptions {
  const parsed = new URL(url);
  const options: RedisOptions = {};
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

/**
 * Connection errors surface as rejected commands (and `ping` for readiness); without a listener
 * ioredis would print every reconnect failure.
 */
function ignoreConnectionError(): void {}

/** EVALSHA, loading the script with EVAL the first time a node has not seen it. */
async function run(client: Client, script: LuaScript, keys: string[], args: ScriptArg[]): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return await client.eval(script.source, keys.length, ...keys, ...args);
  }
}

/** The part of a key Redis Cluster hashes: the first non-empty `{...}`, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

async function shutdown(client: Client): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

function toNumber(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  if (Number.isNaN(n)) throw unexpected('number', value);
  return n;
}

function unexpected(what: string, reply: unknown): Error {
  return new Error(`unexpected redis reply for ${what}: ${JSON.stringify(reply)}`);
}
