/** Builds every long-lived dependency from the configuration, and closes them in reverse order. */
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/client.js';
import { ensureMessagePartitions, schedulePartitionMaintenance } from './db/partitions.js';
import type { LimitStore } from './store/limit-store.js';
import { createMemoryStore } from './store/memory-store.js';
import { createRedisStore } from './store/redis-store.js';
import { withFailurePolicy } from './store/resilient-store.js';
import { withLeases, type LeasedStore } from './store/leases.js';
import { createSecretBox, type SecretBox } from './crypto/secrets.js';
import { resolveMasterKeys } from './crypto/master-key.js';
import { createLogger, type Logger } from './logger.js';
import { listenForChanges } from './cache/invalidation.js';
import { createPrincipalCache } from './tokens/principal-cache.js';
import { loadPrincipal } from './tokens/repo.js';
import { createChannelCache } from './channels/channel-cache.js';
import { loadTenantChannels, markChannelError } from './channels/repo.js';
import { createChannelHealth } from './channels/health.js';
import { startChannelProbe } from './channels/probe.js';
import { createUsageRecorder, spillFileFor } from './usage/usage-recorder.js';
import { durableSpend } from './usage/durable-spend.js';
import { writeUsageBatch } from './usage/usage-repo.js';
import { createUpstreamPool } from './relay/upstream.js';
import { createPricing } from './relay/pricing.js';
import { createConversationCache } from './relay/conversations.js';
import type { RelayDeps } from './relay/relay-deps.js';

export interface Deps {
  config: Config;
  logger: Logger;
  database: Database;
  store: LimitStore;
  /** null on PostgreSQL without LYSS_SECRET_KEY: channel keys cannot be stored or read. */
  secrets: SecretBox | null;
  relay: RelayDeps;
  /** Flushes usage, stops timers and closes connections. */
  close(): Promise<void>;
}

export async function createDeps(config: Config, logger: Logger = createLogger(config.LOG_LEVEL)): Promise<Deps> {
  const embedded = !config.DATABASE_URL;
  const database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.LYSS_DATA_DIR });
  const db = database.db;
  await ensureMessagePartitions(db);
  const stopPartitions = schedulePartitionMaintenance(db, (err) => logger.error('partition maintenance failed', { err }));
  const usage = createUsageRecorder({
    write: (batch, id) => writeUsageBatch(database.usageWriter, batch, id),
    logger,
    flushMs: config.LYSS_USAGE_FLUSH_MS,
    batchSize: config.LYSS_USAGE_BATCH_SIZE,
    maxQueue: config.LYSS_USAGE_QUEUE_MAX,
    spillFile: spillFileFor(config.LYSS_DATA_DIR),
  });
  const sharedStore = (url: string): LimitStore => {
    const durable = durableSpend(db, usage);
    let leased: LeasedStore | null = null;
    const resilient = withFailurePolicy(createRedisStore({ url }), config.LYSS_REDIS_FAILURE_MODE, logger, {
      // A counter seeded from PostgreSQL leaves out what open leases will still settle into it themselves.
      durableUsed: async (key) => {
        const used = await durable(key);
        return used === null ? null : used - (leased?.pendingSettle(key) ?? 0);
      },
    });
    if (config.LYSS_LEASE_MS === 0) return resilient;
    const store = withLeases(resilient, { windowMs: config.LYSS_LEASE_MS });
    leased = store;
    return store;
  };
  try {
    const store = config.REDIS_URL ? sharedStore(config.REDIS_URL) : createMemoryStore();
    const keys = resolveMasterKeys({ secretKey: config.LYSS_SECRET_KEY, embedded, dataDir: config.LYSS_DATA_DIR });
    const secrets = keys ? createSecretBox(keys) : null;

    const principals = createPrincipalCache((digest) => loadPrincipal(db, digest));
    const channels = createChannelCache((tenantId) =>
      loadTenantChannels(db, tenantId, secrets, (channelId, err) => logger.error('channel key cannot be decrypted; channel skipped', { channelId, err })),
    );
    const conversations = createConversationCache(db, (userId, conversationId) => usage.holdsConversation(userId, conversationId));
    const stopListening = await listenForChanges(database, [principals, channels, conversations], logger);
    const health = createChannelHealth({
      store,
      logger,
      failures: config.LYSS_COOLDOWN_FAILURES,
      windowMs: config.LYSS_COOLDOWN_WINDOW_MS,
      cooldownMs: config.LYSS_COOLDOWN_MS,
      markError: async (channel, reason) => {
        await markChannelError(db, channel.tenantId, channel.id, reason);
      },
    });
    await health.start();
    const upstream = createUpstreamPool({
      connectTimeoutMs: config.LYSS_CONNECT_TIMEOUT_MS,
      firstByteTimeoutMs: config.LYSS_FIRST_BYTE_TIMEOUT_MS,
      idleTimeoutMs: config.LYSS_IDLE_TIMEOUT_MS,
    });
    const relay: RelayDeps = {
      config,
      logger,
      db,
      store,
      principals,
      channels,
      health,
      usage,
      upstream,
      pricing: createPricing(config.LYSS_MODEL_RATIOS),
      conversations,
    };
    const probe = startChannelProbe({ db, store, logger, upstream, channels, intervalMs: config.LYSS_PROBE_INTERVAL_MS });
    return {
      config,
      logger,
      database,
      store,
      secrets,
      relay,
      async close() {
        stopPartitions();
        await usage.close();
        await probe.stop();
        await health.stop();
        await stopListening().catch(() => {});
        await upstream.close();
        await store.close();
        await database.close();
      },
    };
  } catch (err) {
    // Records replayed from the spill file now live only in this queue: written, or spilled back, before failing.
    stopPartitions();
    await usage.close(1_000);
    throw err;
  }
}
