/**
 * Scale-out (design.md §1, §4): three gateway processes, clients spread across them, one PostgreSQL and one
 * Redis, then the same against a local Redis Cluster of three masters. Per-minute limits and quotas hold
 * exactly across the processes (a rate limit of L with 3L concurrent requests admits exactly L; a quota fits
 * exactly as many requests as it pays for, out of 300 concurrent ones), and a change made through one
 * instance's admin API, or straight in the database, applies on the others within a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { request } from 'undici';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.js';
import { countChatPrompt } from '../../src/relay/tokenize.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';
import { chat, newAgent, tally, type ChatOutcome } from './helpers/load.js';
import { hasRedisServer, startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';
import { assertServices, createDatabase, eventually, readQuota, REDIS_URL, sleep, tokenQuotaKey, tokenUsedQuota, type FaultDatabase } from './helpers/services.js';

const CONTENT = 'Say hello.';
const PROMPT = countChatPrompt([{ role: 'user', content: CONTENT }]);
const COMPLETION = 7;
const COST = PROMPT + COMPLETION;
const RATE = 30;
const FITS = 100;
const QUOTA = COST * FITS + 5;
const CONCURRENT = 300;
const PASSWORD = 'a long passphrase';

let upstream: MockUpstream;
let db: FaultDatabase;

const key = (name: string) => `lyss-${name}-`.padEnd(40, '0');
const token = (name: string, extra: Record<string, unknown>) => ({ name, user: 'dev@acme.test', key: key(name), allowed_models: [], allowed_channels: [], quota: -1, rate_limit: 1_000_000, ...extra });
const channel = (name: string, models: string[]) => ({ name, type: 'openai', base_url: upstream.url, key: `sk-${name}-key`, models, priority: 10, weight: 1, rate_limit: 1_000_000, quota: -1, scope: 'tenant' });

function config(suite: string) {
  return {
    tenants: [
      {
        slug: 'acme',
        name: 'Acme',
        settings: { store_content: true },
        users: [
          { email: 'admin@acme.test', password: PASSWORD, role: 'tenant_admin' },
          { email: 'dev@acme.test', password: PASSWORD, role: 'end_user' },
        ],
        groups: [],
        channels: [channel('main', ['gpt-4o-mini']), channel(`side-${suite}`, [`side-model-${suite}`])],
        tokens: [
          token(`rate-${suite}`, { rate_limit: RATE }),
          token(`quota-${suite}`, { quota: QUOTA }),
          token(`api-${suite}`, {}),
          token(`sql-${suite}`, {}),
        ],
      },
    ],
  };
}

beforeAll(async () => {
  await assertServices();
  upstream = await startMockUpstream();
  upstream.script(() => ({ kind: 'reply', usage: { prompt: PROMPT, completion: COMPLETION } }));
  db = await createDatabase();
});
afterAll(async () => {
  await upstream?.close();
  await db?.drop();
});

async function idOf(table: 'provider_tokens' | 'provider_channels', name: string): Promise<{ id: string; tenantId: string }> {
  const [row] = await db.sql<{ id: string; tenant_id: string }[]>`select id, tenant_id from ${db.sql(table)} where name = ${name}`;
  return { id: row!.id, tenantId: row!.tenant_id };
}

/** Polls every instance until `refused` holds on all of them; returns how long that took. */
async function propagation(gws: GatewayProcess[], send: (gw: GatewayProcess) => Promise<ChatOutcome>, refused: (o: ChatOutcome) => boolean, since: number): Promise<number[]> {
  return Promise.all(
    gws.map(async (gw) => {
      for (;;) {
        const o = await send(gw);
        if (refused(o)) return Date.now() - since;
        if (Date.now() - since > 5_000) throw new Error(`change not applied on ${gw.url} within 5 s: ${o.status} ${o.body.slice(0, 200)}`);
        await sleep(20);
      }
    }),
  );
}

function scaleOutSuite(label: string, suite: string, redisUrl: () => string, redisClient: () => Redis | Cluster) {
  let gws: GatewayProcess[] = [];

  beforeAll(async () => {
    const configFile = writeConfig(config(suite));
    gws = await Promise.all([0, 1, 2].map(() => startGatewayProcess({ databaseUrl: db.url, redisUrl: redisUrl(), configFile, env: { LYSS_USAGE_FLUSH_MS: '100' } })));
  });
  afterAll(async () => {
    await Promise.all(gws.map((g) => g.stop(5000)));
  });

  const spread = (i: number) => gws[i % gws.length]!.url;

  it(`${label}: a rate limit of ${RATE}/min admits exactly ${RATE} of ${3 * RATE} concurrent requests spread over 3 instances`, async () => {
    const agent = newAgent();
    const outcomes = await Promise.all(Array.from({ length: 3 * RATE }, (_, i) => chat(spread(i), { token: key(`rate-${suite}`), content: CONTENT, maxTokens: COMPLETION, dispatcher: agent })));
    await agent.close();
    const counts = tally(outcomes);
    const perInstance = gws.map((_, k) => outcomes.filter((o, i) => i % 3 === k && o.complete).length);
    console.log(`[faults] scale-out ${label} rate: limit=${RATE}/min requests=${3 * RATE} outcomes=${JSON.stringify(counts)} admitted-per-instance=${perInstance.join('/')}`);
    expect(counts).toEqual({ '200:complete': RATE, '429:rate_limit_exceeded': 2 * RATE });
  });

  it(`${label}: a quota that pays for ${FITS} requests admits exactly ${FITS} of ${CONCURRENT} concurrent ones; recorded = live counter`, async () => {
    const agent = newAgent();
    const outcomes = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => chat(spread(i), { token: key(`quota-${suite}`), content: CONTENT, maxTokens: COMPLETION, dispatcher: agent })));
    await agent.close();
    const counts = tally(outcomes);
    const { id, tenantId } = await idOf('provider_tokens', `quota-${suite}`);
    const used = await eventually(async () => {
      const u = await tokenUsedQuota(db.sql, id);
      expect(u).toBe(FITS * COST);
      return u;
    }, 10_000, 100);
    const live = await readQuota(redisClient(), tokenQuotaKey(tenantId, id));
    console.log(`[faults] scale-out ${label} quota: quota=${QUOTA} cost=${COST} requests=${CONCURRENT} outcomes=${JSON.stringify(counts)} used_quota=${used} redis=${JSON.stringify(live)}`);
    expect(counts).toEqual({ '200:complete': FITS, '429:insufficient_quota': CONCURRENT - FITS });
    expect(used).toBeLessThanOrEqual(QUOTA);
    expect(live).toEqual({ used, reserved: 0, reservations: 0 });
  });

  it(`${label}: token and channel changes through one instance's admin API, or in the database, apply on all within a second`, async () => {
    const agent = newAgent();
    const send = (t: string, model = 'gpt-4o-mini') => (gw: GatewayProcess) => chat(gw.url, { token: key(t), model, content: CONTENT, maxTokens: COMPLETION, dispatcher: agent });
    // Every instance has the token and the channel cached.
    for (const gw of gws) {
      expect((await send(`api-${suite}`)(gw)).complete).toBe(true);
      expect((await send(`sql-${suite}`)(gw)).complete).toBe(true);
      expect((await send(`api-${suite}`, `side-model-${suite}`)(gw)).complete).toBe(true);
    }
    const login = await request(`${gws[0]!.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'acme', email: 'admin@acme.test', password: PASSWORD }),
    });
    expect(login.statusCode).toBe(200);
    const session = ((await login.body.json()) as { access_token: string }).access_token;
    const admin = async (method: 'PATCH' | 'POST', path: string, body?: unknown) => {
      const res = await request(`${gws[0]!.url}/api${path}`, {
        method,
        headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      expect(res.statusCode, text).toBe(200);
    };

    const apiToken = await idOf('provider_tokens', `api-${suite}`);
    let at = Date.now();
    await admin('PATCH', `/tokens/${apiToken.id}`, { status: 'disabled' });
    const tokenMs = await propagation(gws, send(`api-${suite}`), (o) => o.status === 401, at);

    const side = await idOf('provider_channels', `side-${suite}`);
    at = Date.now();
    await admin('POST', `/channels/${side.id}/disable`);
    const channelMs = await propagation(gws, send(`sql-${suite}`, `side-model-${suite}`), (o) => !o.complete && o.status >= 400, at);

    const sqlToken = await idOf('provider_tokens', `sql-${suite}`);
    at = Date.now();
    await db.sql`update provider_tokens set status = 2 where id = ${sqlToken.id}`;
    const sqlMs = await propagation(gws, send(`sql-${suite}`), (o) => o.status === 401, at);
    await agent.close();
    console.log(`[faults] scale-out ${label} propagation (ms per instance): token via admin API=${tokenMs.join('/')} channel via admin API=${channelMs.join('/')} token via SQL=${sqlMs.join('/')}`);
    for (const ms of [...tokenMs, ...channelMs, ...sqlMs]) expect(ms).toBeLessThan(1_000);
  });
}

describe('three instances, one PostgreSQL, one Redis', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(() => redis?.disconnect());
  scaleOutSuite('redis', 'single', () => REDIS_URL, () => redis);
});

const redisServer = hasRedisServer();
if (!redisServer) console.log('[faults] scale-out redis-cluster: SKIPPED, redis-server is not installed');

describe.skipIf(!redisServer)('three instances, one PostgreSQL, a Redis Cluster of three masters', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });
  scaleOutSuite('redis-cluster', 'cluster', () => cluster.url, () => client);
});
