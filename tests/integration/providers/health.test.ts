/**
 * Channel health: a refused key puts a channel in status 3 (on every instance), the background probe brings
 * it back once upstream answers again, an admin-disabled channel is never touched, and transient failures
 * cool a channel down for a while, shared through the store.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { loadConfig } from '../../../src/config.js';
import { createDeps, type Deps } from '../../../src/deps.js';
import { createApp } from '../../../src/app.js';
import { listen, type RunningServer } from '../../../src/http/server.js';
import { createLogger } from '../../../src/logger.js';
import { markChannelError, setChannelStatus } from '../../../src/channels/repo.js';
import { ChannelStatus } from '../../../src/db/schema/provider.js';
import { basicConfig, eventually, startGateway, TEST_SECRET_KEY, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { startMockProviders, type MockProviders } from '../../helpers/mock-providers.js';
import { channelRow, tenantIdOf } from './db.js';

const ENV = {
  LYSS_PROBE_INTERVAL_MS: '150',
  LYSS_COOLDOWN_FAILURES: '2',
  LYSS_COOLDOWN_WINDOW_MS: '60000',
  LYSS_COOLDOWN_MS: '700',
};

let openaiUp: MockUpstream;
let providers: MockProviders;
let gw: TestGateway;
let client: OpenAI;
/** OpenAI-format keys the mock accepts; others get OpenAI's 401. */
let goodOpenAIKeys = new Set<string>();
/** Models the OpenAI mock fails with a 500. */
let failing = new Set<string>();

beforeAll(async () => {
  openaiUp = await startMockUpstream();
  openaiUp.script((req) => {
    const key = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!goodOpenAIKeys.has(key)) {
      return { kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided: sk-***.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } };
    }
    if (failing.has(req.body?.model)) return { kind: 'status', status: 500 };
    return undefined;
  });
  providers = await startMockProviders();
  const common = { priority: 10, weight: 1, rate_limit: 100000, quota: -1, scope: 'tenant' };
  gw = await startGateway({
    env: ENV,
    config: basicConfig(openaiUp.url, {
      channels: [
        { ...common, name: 'openai-h', type: 'openai', base_url: openaiUp.url, key: 'sk-openai-h', models: ['text-embedding-3-small', 'gpt-h'] },
        { ...common, name: 'claude-h', type: 'anthropic', base_url: providers.url, key: 'sk-ant-h', models: ['claude-h'], model_mapping: { 'claude-h': 'claude-haiku-4-5' } },
        { ...common, name: 'azure-h', type: 'azure-openai', base_url: providers.url, key: 'az-h', models: ['azure-h'], model_mapping: { 'azure-h': 'deploy-h' } },
        { ...common, name: 'claude-admin-off', type: 'anthropic', base_url: providers.url, key: 'sk-ant-off', models: ['claude-off'] },
        { ...common, name: 'flaky', type: 'openai', base_url: openaiUp.url, key: 'sk-flaky', models: ['flaky'] },
        { ...common, name: 'shared', type: 'openai', base_url: openaiUp.url, key: 'sk-shared', models: ['shared'] },
      ],
    }),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_TOKEN, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.close();
  await providers?.close();
  await openaiUp?.close();
});
beforeEach(() => {
  goodOpenAIKeys = new Set(['sk-openai-h', 'sk-flaky', 'sk-shared']);
  failing = new Set();
  providers.acceptKeys(null);
  providers.script(null);
});

const ask = (model: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });
const fails = (model: string) => ask(model).then(() => null, (e) => e);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statusOf(name: string, status: number) {
  return eventually(async () => {
    const row = await channelRow(gw, name);
    expect(row.status).toBe(status);
    return row;
  });
}

describe('bad key -> status 3 -> probe -> re-enabled', () => {
  it('OpenAI format', async () => {
    goodOpenAIKeys.delete('sk-openai-h');
    expect((await fails('gpt-h')).status).toBe(502);
    const row = await statusOf('openai-h', 3);
    expect(row.status_reason).toBe('auth: upstream status 401');
    expect(new Date(row.status_changed_at!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    await eventually(async () => expect((await fails('gpt-h'))?.status).toBe(503));

    // The probe keeps asking with a minimal request while the key is refused; the channel stays in 3.
    const seen = openaiUp.requests.length;
    await eventually(() => {
      const probes = openaiUp.requests.slice(seen);
      expect(probes.length).toBeGreaterThanOrEqual(2);
      return Promise.resolve();
    });
    const probe = openaiUp.requests.at(-1)!;
    expect(probe.path).toBe('/v1/chat/completions');
    expect(probe.headers.authorization).toBe('Bearer sk-openai-h');
    // The first chat model, not the embedding model listed before it; one token.
    expect(probe.body).toEqual({ model: 'gpt-h', messages: [{ role: 'user', content: 'ping' }], max_completion_tokens: 1 });
    expect((await channelRow(gw, 'openai-h')).status).toBe(3);

    goodOpenAIKeys.add('sk-openai-h');
    const back = await statusOf('openai-h', 1);
    expect(back.status_reason).toMatch(/^probe: answered 200/);
    await eventually(async () => expect((await ask('gpt-h')).choices[0]!.message.content).toBeTruthy());
  });

  it('Anthropic: probed with max_tokens 1 on /v1/messages', async () => {
    providers.acceptKeys(['az-h']);
    expect((await fails('claude-h')).status).toBe(502);
    expect((await statusOf('claude-h', 3)).status_reason).toMatch(/^auth/);
    await eventually(async () => {
      const probe = providers.requests.filter((r) => r.key === 'sk-ant-h').at(-1);
      expect(probe?.body).toEqual({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });
      expect(probe?.headers['anthropic-version']).toBe('2023-06-01');
      // Two refused rounds at least: a refused probe leaves the channel in 3.
      expect(providers.requests.filter((r) => r.key === 'sk-ant-h').length).toBeGreaterThanOrEqual(3);
    });
    expect((await channelRow(gw, 'claude-h')).status).toBe(3);
    providers.acceptKeys(null);
    await statusOf('claude-h', 1);
    await eventually(async () => expect((await ask('claude-h')).choices[0]!.message.content).toBeTruthy());
  });

  it('Azure: probed at the deployment with api-version and max_tokens 1', async () => {
    providers.acceptKeys(['sk-ant-h']);
    expect((await fails('azure-h')).status).toBe(502);
    await statusOf('azure-h', 3);
    await eventually(async () => {
      const probe = providers.requests.filter((r) => r.key === 'az-h').at(-1);
      expect(probe?.path).toBe('/openai/deployments/deploy-h/chat/completions?api-version=2024-10-21');
      expect(probe?.body).toMatchObject({ messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });
    });
    providers.acceptKeys(null);
    await statusOf('azure-h', 1);
  });

  it('billing failures count too, and a probe that gets no answer leaves the channel in 3', async () => {
    providers.script((req) => (req.key === 'sk-ant-h' ? { kind: 'anthropic-error', type: 'billing_error' } : undefined));
    expect((await fails('claude-h')).status).toBe(503);
    expect((await statusOf('claude-h', 3)).status_reason).toMatch(/^billing/);
    providers.script((req) => (req.key === 'sk-ant-h' ? { kind: 'reset' } : undefined));
    const seen = providers.requests.length;
    await eventually(async () => expect(providers.requests.slice(seen).filter((r) => r.key === 'sk-ant-h').length).toBeGreaterThanOrEqual(2));
    expect((await channelRow(gw, 'claude-h')).status).toBe(3);
    providers.script(null);
    await statusOf('claude-h', 1);
  });
});

describe('admin-disabled channels', () => {
  it('are never probed nor re-enabled, and health never turns them into status 3', async () => {
    const tenant = await tenantIdOf(gw);
    const row = await channelRow(gw, 'claude-admin-off');
    await setChannelStatus(gw.deps.database.db, tenant, row.id, ChannelStatus.disabled, 'admin: maintenance');
    await eventually(async () => expect((await fails('claude-off'))?.status).toBe(503));
    const seen = providers.requests.length;
    await sleep(800); // several probe rounds
    expect(providers.requests.slice(seen).filter((r) => r.key === 'sk-ant-off')).toEqual([]);
    const after = await channelRow(gw, 'claude-admin-off');
    expect(after.status).toBe(2);
    expect(after.status_reason).toBe('admin: maintenance');
    // An auth failure of a request already in flight when the admin disabled it does not make it 3.
    expect(await markChannelError(gw.deps.database.db, tenant, row.id, 'auth: upstream status 401')).toBe(false);
    expect((await channelRow(gw, 'claude-admin-off')).status).toBe(2);
  });
});

describe('cool-down', () => {
  it('N transient failures in the window cool a channel down, without disabling it, until it expires', async () => {
    failing.add('flaky');
    const channelId = (await channelRow(gw, 'flaky')).id;
    expect((await fails('flaky')).status).toBe(502);
    expect((await fails('flaky')).status).toBe(502);
    await eventually(async () => expect(gw.deps.relay.health.cooling(channelId)).toBe(true));
    const seen = openaiUp.requests.length;
    // Cooling: refused at once, upstream not called.
    expect((await fails('flaky')).status).toBe(503);
    expect(openaiUp.requests.length).toBe(seen);
    expect((await channelRow(gw, 'flaky')).status).toBe(1);
    expect(gw.deps.relay.health.cooling(channelId)).toBe(true);

    failing.delete('flaky');
    await sleep(750);
    expect(gw.deps.relay.health.cooling(channelId)).toBe(false);
    expect((await ask('flaky')).choices[0]!.message.content).toBeTruthy();
    expect(openaiUp.requests.length).toBe(seen + 1);

    // Counted once the answer is settled, just after the client has it.
    await eventually(async () => expect(gw.deps.relay.health.stats().get(channelId)).toMatchObject({ requests: 3, failures: 2 }));
    expect(gw.deps.relay.health.stats().get(channelId)!.lastError).toContain('500');
  });

  it('a failure right after a cool-down, while the window still holds N failures, starts another', async () => {
    failing.add('flaky');
    const channelId = (await channelRow(gw, 'flaky')).id;
    // The window from the previous test still holds its two failures.
    expect((await fails('flaky')).status).toBe(502);
    await eventually(async () => expect(gw.deps.relay.health.cooling(channelId)).toBe(true));
    await sleep(750);
    failing.delete('flaky');
    expect((await ask('flaky')).choices[0]!.message.content).toBeTruthy();
  });
});

describe('several instances', () => {
  let second: { deps: Deps; running: RunningServer; client: OpenAI } | null = null;
  afterAll(async () => {
    if (!second) return;
    await second.running.drain(1000);
    await second.deps.close();
  });

  // PGlite in memory cannot be shared between two gateways; PostgreSQL (and Redis for cool-downs) can.
  it.runIf(process.env.DATABASE_URL)('status 3 and cool-downs reach every instance', async () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.LYSS_TEST_LOG_LEVEL ?? 'silent',
      LYSS_DATA_DIR: 'memory://',
      LYSS_SECRET_KEY: TEST_SECRET_KEY,
      LYSS_USAGE_FLUSH_MS: '50',
      DATABASE_URL: gw.deps.config.DATABASE_URL,
      REDIS_URL: process.env.REDIS_URL,
      ...ENV,
      // Only the first instance probes here (the probe shares its turns through the store anyway).
      LYSS_PROBE_INTERVAL_MS: '600000',
    });
    const deps = await createDeps(config, createLogger(config.LOG_LEVEL));
    const running = await listen(createApp(deps), { port: 0, host: '127.0.0.1' });
    const other = new OpenAI({ baseURL: `http://127.0.0.1:${(running.server.address() as AddressInfo).port}/v1`, apiKey: TEST_TOKEN, maxRetries: 0 });
    second = { deps, running, client: other };

    // Both instances have the channel table cached.
    expect((await other.chat.completions.create({ model: 'shared', messages: [{ role: 'user', content: 'Hi' }] })).choices[0]!.message.content).toBeTruthy();

    // A refused key seen by the first instance stops the second from selecting the channel.
    goodOpenAIKeys.delete('sk-shared');
    expect((await fails('shared')).status).toBe(502);
    await statusOf('shared', 3);
    await eventually(async () => {
      const err = await other.chat.completions.create({ model: 'shared', messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
      expect(err.status).toBe(503);
    });
    goodOpenAIKeys.add('sk-shared');
    await statusOf('shared', 1);
    await eventually(async () => expect((await other.chat.completions.create({ model: 'shared', messages: [{ role: 'user', content: 'Hi' }] })).choices[0]).toBeTruthy());

    if (!process.env.REDIS_URL) return;
    // A cool-down started by failures on the first instance holds on the second.
    failing.add('shared');
    const channelId = (await channelRow(gw, 'shared')).id;
    await fails('shared');
    await fails('shared');
    await eventually(async () => expect(deps.relay.health.cooling(channelId)).toBe(true));
    const seen = openaiUp.requests.length;
    const err = await other.chat.completions.create({ model: 'shared', messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err.status).toBe(503);
    expect(openaiUp.requests.length).toBe(seen);
    failing.delete('shared');
  });
});
