/**
 * Redis away and back under load (design.md §5), through a TCP proxy the test cuts. Fail-closed (the default)
 * answers a clear 503 while limits cannot be checked; fail-open admits on in-process limits. Both are counted
 * (/readyz counters, the log). When Redis returns, the live quota counter equals PostgreSQL's record exactly,
 * whether Redis kept its keys (missed settles and in-process spend are replayed) or lost them (the next admit
 * seeds from the durable used_quota), and a token with a finite quota never spends more than it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { basicConfig } from '../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.js';
import { countChatPrompt } from '../../src/relay/tokenize.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';
import { drive, readyz } from './helpers/drive.js';
import { newAgent, tally, type ChatOutcome } from './helpers/load.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import {
  assertServices,
  createDatabase,
  deleteTenantKeys,
  eventually,
  ids,
  readQuota,
  REDIS_URL,
  sleep,
  tokenQuotaKey,
  tokenUsedQuota,
  type FaultDatabase,
} from './helpers/services.js';

const CONTENT = 'Say hello.';
// The mock reports exactly the prompt the gateway counts, so a reservation always covers the real cost.
const PROMPT = countChatPrompt([{ role: 'user', content: CONTENT }]);
const COMPLETION = 7;
const COST = PROMPT + COMPLETION;
const QUOTA = COST * 900 + 5;
const OUTAGE_MS = 6_000;
/** Quota leases and tallies last six windows: 12 s, within the wait for the last of them at the end. */
const LEASE_MS = 2_000;
const CLOSED_TOKEN = 'lyss-closed-0123456789abcdef0123456789ab';
const OPEN_TOKEN = 'lyss-open-0123456789abcdef0123456789abcd';

let upstream: MockUpstream;
let db: FaultDatabase;
let proxy: TcpProxy;
let redis: Redis;
let gw: GatewayProcess | null = null;
let configFile: string;

const token = (name: string, key: string) => ({ name, user: 'dev@acme.test', key, allowed_models: [], allowed_channels: [], quota: QUOTA, rate_limit: 1_000_000 });

beforeAll(async () => {
  await assertServices();
  upstream = await startMockUpstream();
  upstream.script(() => ({ kind: 'reply', usage: { prompt: PROMPT, completion: COMPLETION } }));
  db = await createDatabase();
  const target = new URL(REDIS_URL);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
  redis = new Redis(REDIS_URL);
  configFile = writeConfig(basicConfig(upstream.url, { tokens: [token('closed', CLOSED_TOKEN), token('open', OPEN_TOKEN)] }));
});
afterAll(async () => {
  proxy?.restore();
  await gw?.stop(5000);
  await proxy?.close();
  await upstream?.close();
  redis?.disconnect();
  await db?.drop();
});

const exhausted = (o: ChatOutcome) => o.code === 'insufficient_quota';

async function outageRun(mode: 'closed' | 'open', key: string, name: string, loseKeys: boolean) {
  await gw?.stop();
  gw = await startGatewayProcess({
    databaseUrl: db.url,
    redisUrl: proxy.url(REDIS_URL),
    configFile,
    env: { LYSS_REDIS_FAILURE_MODE: mode, LYSS_USAGE_FLUSH_MS: '200', LYSS_LEASE_MS: String(LEASE_MS) },
  });
  const { tenantId, tokenId } = await ids(db.sql, 'acme', name);
  const agent = newAgent();
  const opts = { token: key, content: CONTENT, maxTokens: COMPLETION, dispatcher: agent };

  const before = await drive(gw.url, { ...opts, workers: 6, durationMs: 20_000, maxRequests: 300 });
  proxy.cut();
  const down = drive(gw.url, { ...opts, workers: 6, durationMs: OUTAGE_MS, maxRequests: 3_000, pauseMs: 5 });
  await sleep(1_000);
  const ready = await readyz(gw.url);
  // A Redis restart without persistence: every counter of this tenant is gone when it returns.
  const lost = loseKeys ? await deleteTenantKeys(redis, tenantId) : 0;
  const during = await down;
  const counters = (await readyz(gw.url)).body?.counters ?? {};
  proxy.restore();
  const restoredAt = Date.now();
  // The gateway notices by its own probe (and ioredis's reconnect backoff, up to 2 s); then the load resumes.
  const recovered = await eventually(async () => {
    const r = await readyz(gw!.url);
    expect(r.body?.counters?.storeRecoveries).toBe(1);
    return Date.now() - restoredAt;
  }, 20_000, 100);
  const after = await drive(gw.url, { ...opts, workers: 6, durationMs: 30_000, maxRequests: 3_000, stopWhen: exhausted });

  const all = [...before, ...during, ...after];
  const served = all.filter((o) => o.complete).length;
  const spend = await eventually(async () => {
    const used = await tokenUsedQuota(db.sql, tokenId);
    expect(used).toBe(served * COST);
    return used;
  }, 10_000, 100);
  // The last leases settle their spend once they end: quota leases and tallies after six windows.
  const live = await eventually(async () => {
    const q = await readQuota(redis, tokenQuotaKey(tenantId, tokenId));
    expect(q).toEqual({ used: spend, reserved: 0, reservations: 0 });
    return q;
  }, 20_000, 100);
  const afterReady = await readyz(gw.url);
  console.log(
    `[faults] redis-outage fail-${mode}: quota=${QUOTA} cost/request=${COST} keys-lost=${lost} before=${JSON.stringify(tally(before))} ` +
      `during=${JSON.stringify(tally(during))} after=${JSON.stringify(tally(after))} served=${served} used_quota=${spend} ` +
      `redis-used=${live.used} reservations=${live.reservations} readyz-during=${ready.status}/${ready.body?.checks?.store === 'ok' ? 'store ok' : 'store down'} ` +
      `counters=${JSON.stringify(counters)} recovered ${recovered} ms after Redis returned, recoveries=${afterReady.body?.counters?.storeRecoveries} logged=${gw.logs('limit store unreachable').length}`,
  );
  await agent.close();
  return { before, during, after, spend, ready, counters, afterReady };
}

describe('Redis unavailable', () => {
  it('fail-closed (default): a clear 503 while down; counters reseeded from PostgreSQL; the quota holds exactly', async () => {
    const r = await outageRun('closed', CLOSED_TOKEN, 'closed', true);
    expect(tally(r.before)).toEqual({ '200:complete': 300 });
    const refused = r.during.filter((o) => o.status === 503);
    // Requests in flight at the cut may still finish; after them everything is refused, and clearly.
    expect(refused.length).toBeGreaterThan(r.during.length - 10);
    for (const o of refused) {
      expect(JSON.parse(o.body)).toEqual({ error: { message: expect.stringMatching(/Rate limits and quotas cannot be checked/), type: 'server_error', param: null, code: 'service_unavailable' } });
    }
    expect(r.ready.status).toBe(503);
    expect(r.ready.body?.checks?.store).not.toBe('ok');
    expect(r.ready.body?.checks?.database).toBe('ok');
    expect(r.counters.storeFailClosedRefusals).toBeGreaterThanOrEqual(refused.length);
    expect(r.counters.storeFailures).toBeGreaterThan(0);
    expect(gw!.logs('limit store unreachable').length).toBeGreaterThan(0);
    expect(r.afterReady.status).toBe(200);
    // The quota was spent to the last request that fit, never beyond.
    expect(r.after.at(-1)?.code).toBe('insufficient_quota');
    expect(r.spend).toBeLessThanOrEqual(QUOTA);
    expect(QUOTA - r.spend).toBeLessThan(COST);
  });

  it('fail-open: in-process limits while down, counted; missed settles and local spend replayed; the quota holds exactly', async () => {
    const r = await outageRun('open', OPEN_TOKEN, 'open', false);
    expect(tally(r.before)).toEqual({ '200:complete': 300 });
    // Served by the in-process limits until the quota ran out (they were seeded from PostgreSQL's record),
    // then refused for quota: never for the outage itself.
    expect(r.during.filter((o) => o.complete).length).toBeGreaterThan(100);
    expect(r.during.every((o) => o.complete || o.code === 'insufficient_quota'), JSON.stringify(tally(r.during))).toBe(true);
    expect(r.counters.storeFailOpenAdmits).toBeGreaterThan(100);
    expect(r.ready.status).toBe(503);
    expect(gw!.logs('limit store unreachable').length).toBeGreaterThan(0);
    expect(r.afterReady.status).toBe(200);
    expect(r.after.at(-1)?.code).toBe('insufficient_quota');
    expect(r.spend).toBeLessThanOrEqual(QUOTA);
    expect(QUOTA - r.spend).toBeLessThan(COST);
  });
});
