/**
 * Starts the real gateway in this process on a free port, over a fresh database (PGlite in memory, or a new
 * PostgreSQL database when DATABASE_URL is set) and the store named by REDIS_URL (in-process otherwise),
 * seeded from a LYSS_CONFIG-shaped object.
 */
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { createApp } from '../../src/app.js';
import { listen, type RunningServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { applyConfig, validateConfig } from '../../src/setup/index.js';
import { freshDatabase } from './test-database.js';

export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

export interface TestGateway {
  url: string;
  /** The OpenAI SDK's baseURL. */
  baseURL: string;
  deps: Deps;
  running: RunningServer;
  /** Applies another LYSS_CONFIG-shaped object (idempotent upserts). */
  apply(config: unknown): Promise<void>;
  close(): Promise<void>;
}

export async function startGateway(opts: { config?: unknown; env?: Record<string, string> } = {}): Promise<TestGateway> {
  const fresh = process.env.DATABASE_URL ? await freshDatabase({ poolSize: 1 }) : null;
  // freshDatabase migrated it; the gateway opens its own pool.
  if (fresh) await fresh.database.close();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.LYSS_TEST_LOG_LEVEL ?? 'silent',
    LYSS_DATA_DIR: 'memory://',
    LYSS_SECRET_KEY: TEST_SECRET_KEY,
    LYSS_USAGE_FLUSH_MS: '50',
    // Leases settle their spend when they end (six windows, or a window after their key's last request): a
    // short window lets a test see the live counters settle.
    LYSS_LEASE_MS: '250',
    DATABASE_URL: fresh?.url,
    REDIS_URL: process.env.REDIS_URL,
    ...opts.env,
  });
  const deps = await createDeps(config, createLogger(config.LOG_LEVEL));
  const apply = async (cfg: unknown) => {
    await applyConfig({ db: deps.database.db, secrets: deps.secrets }, validateConfig(cfg, 'test'));
  };
  if (opts.config) await apply(opts.config);
  const running = await listen(createApp(deps), { port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
  return {
    url,
    baseURL: `${url}/v1`,
    deps,
    running,
    apply,
    async close() {
      await running.drain(1000);
      await deps.close();
      if (fresh) {
        const { default: postgres } = await import('postgres');
        const server = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
        await server.unsafe(`drop database if exists "${new URL(fresh.url!).pathname.slice(1)}" with (force)`).catch(() => {});
        await server.end();
      }
    },
  };
}

/** A small tenant: one admin, one user with a token, one OpenAI-format channel at `upstreamUrl`. */
export function basicConfig(upstreamUrl: string, overrides: { channel?: Record<string, unknown>; token?: Record<string, unknown>; channels?: unknown[]; tokens?: unknown[]; settings?: Record<string, unknown> } = {}) {
  return {
    tenants: [
      {
        slug: 'acme',
        name: 'Acme',
        settings: { store_content: true, ...overrides.settings },
        users: [
          { email: 'admin@acme.test', password: 'a long passphrase', role: 'tenant_admin' },
          { email: 'dev@acme.test', password: 'another passphrase', role: 'end_user' },
        ],
        groups: [],
        channels: overrides.channels ?? [
          {
            name: 'openai-main',
            type: 'openai',
            base_url: upstreamUrl,
            key: 'sk-upstream-key-main',
            models: ['gpt-4o-mini', 'text-embedding-3-small', 'gpt-3.5-turbo-instruct'],
            priority: 10,
            weight: 1,
            rate_limit: 100000,
            quota: -1,
            scope: 'tenant',
            ...overrides.channel,
          },
        ],
        tokens: overrides.tokens ?? [
          {
            name: 'ci',
            user: 'dev@acme.test',
            key: TEST_TOKEN,
            allowed_models: [],
            allowed_channels: [],
            quota: -1,
            rate_limit: 100000,
            ...overrides.token,
          },
        ],
      },
    ],
  };
}

export const TEST_TOKEN = 'lyss-test-0123456789abcdef0123456789abcdef';

/** Waits until `check` passes or the time is up (for background writes). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
