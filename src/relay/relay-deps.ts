/** Everything the relay's request steps share, built once in src/deps.ts. */
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { LimitStore } from '../store/limit-store.js';
import type { PrincipalCache } from '../tokens/principal-cache.js';
import type { ChannelCache } from '../channels/channel-cache.js';
import type { ChannelHealth } from '../channels/health.js';
import type { UsageRecorder } from '../usage/usage-recorder.js';
import type { UpstreamPool } from './upstream.js';
import type { Pricing } from './pricing.js';
import type { ConversationCache } from './conversations.js';

export interface RelayDeps {
  config: Config;
  logger: Logger;
  db: Db;
  store: LimitStore;
  principals: PrincipalCache;
  channels: ChannelCache;
  health: ChannelHealth;
  usage: UsageRecorder;
  upstream: UpstreamPool;
  pricing: Pricing;
  conversations: ConversationCache;
}
