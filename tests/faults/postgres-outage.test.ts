/**
 * PostgreSQL away for 10 s under load (design.md §5), through a TCP proxy the test cuts (the machine's shared
 * server keeps running). The relay keeps answering from its caches, /readyz says the database is down, usage
 * records queue and are all written when PostgreSQL returns. With a tiny queue bound, new requests get a
 * clear 503 once it is reached, and still every request that was served is recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicConfig, TEST_TOKEN } from '../helpers/gateway.js';
import { DEFAULT_USAGE, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';
import { drive, readyz, type Readiness } from './helpers/drive.js';
import { chat, newAgent, tally } from './helpers/load.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { assertServices, assistantRows, createDatabase, eventually, ids, REDIS_URL, sleep, tokenUsedQuota, type FaultDatabase } from './helpers/services.js';

const OUTAGE_MS = 10_000;
const COST = DEFAULT_USAGE.prompt + DEFAULT_USAGE.completion;

let upstream: MockUpstream;
let db: FaultDatabase;
let proxy: TcpProxy;
let gw: GatewayProcess | null = null;
let configFile: string;

beforeAll(async () => {
  await assertServices();
  upstream = await startMockUpstream();
  db = await createDatabase();
  proxy = await startTcpProxy({ host: new URL(db.url).hostname, port: Number(new URL(db.url).port || 5432) });
  configFile = writeConfig(basicConfig(upstream.url, { token: { quota: 1e9 } }));
});
afterAll(async () => {
  proxy?.restore();
  await gw?.stop(5000);
  await proxy?.close();
  await upstream?.close();
  await db?.drop();
});

/** Polls /readyz every 250 ms until `stop()`; keeps every answer. */
function watchReadiness(url: string): { stop: () => Readiness[] } {
  const seen: Readiness[] = [];
  let running = true;
  void (async () => {
    while (running) {
      const r = await readyz(url);
      if (running) seen.push(r);
      await sleep(250);
    }
  })();
  return {
    // Answers that arrive after this are not kept (they may straddle the restore).
    stop: () => {
      running = false;
      return seen;
    },
  };
}

describe('PostgreSQL unavailable', () => {
  it('for 10 s under load: answers from caches, /readyz 503 names the database, every record is written afterwards', async () => {
    gw = await startGatewayProcess({ databaseUrl: proxy.url(db.url), redisUrl: REDIS_URL, configFile, env: { LYSS_USAGE_FLUSH_MS: '200' } });
    const { tenantId, tokenId } = await ids(db.sql, 'acme', 'ci');
    const agent = newAgent();
    // Warm the caches: the token and the tenant's channels are read once.
    expect((await chat(gw.url, { token: TEST_TOKEN, dispatcher: agent })).complete).toBe(true);

    const load = drive(gw.url, { token: TEST_TOKEN, workers: 6, durationMs: OUTAGE_MS + 6_000, pauseMs: 5, maxRequests: 20_000, dispatcher: agent, stream: false });
    const streams = drive(gw.url, { token: TEST_TOKEN, workers: 2, durationMs: OUTAGE_MS + 6_000, maxRequests: 5_000, dispatcher: agent, stream: true });
    await sleep(2_000);
    proxy.cut();
    const cutAt = Date.now();
    const watch = watchReadiness(gw.url);
    await sleep(OUTAGE_MS - 2_500);
    // Read while still down (a readiness probe may take its full 2 s timeout then).
    const pendingAtRestore = (await readyz(gw.url)).body?.counters?.usagePending ?? -1;
    await sleep(cutAt + OUTAGE_MS - Date.now());
    const during = watch.stop();
    proxy.restore();
    const outageMs = Date.now() - cutAt;
    const outcomes = [...(await load), ...(await streams)];
    const counts = tally(outcomes);
    // The warm-up request counts too.
    const answered = outcomes.filter((o) => o.complete).length + 1;

    // Everything served is written once PostgreSQL is back.
    const rows = await eventually(async () => {
      const n = await assistantRows(db.sql, tenantId);
      expect(n).toBe(answered);
      return n;
    }, 20_000, 250);
    const spend = await tokenUsedQuota(db.sql, tokenId);
    const after = await eventually(async () => {
      const r = await readyz(gw!.url);
      expect(r.status).toBe(200);
      return r;
    }, 10_000, 200);
    const down = during.filter((r) => r.status === 503 && r.body?.checks?.database !== 'ok' && r.body?.checks?.store === 'ok');
    console.log(
      `[faults] postgres-outage: outage=${outageMs} ms requests=${outcomes.length} answered=${answered} outcomes=${JSON.stringify(counts)} ` +
        `queued-at-restore=${pendingAtRestore} assistant-rows=${rows} used_quota=${spend} (expected ${answered * COST}) ` +
        `readyz-during=${down.length}/${during.length} said database down, after=${after.status}`,
    );
    // The relay kept answering from its caches: nothing failed, and plenty was served during the outage.
    expect(counts).toEqual({ '200:complete': outcomes.length });
    expect(pendingAtRestore).toBeGreaterThan(50);
    expect(spend).toBe(answered * COST);
    expect(during.length).toBeGreaterThanOrEqual(5);
    // The first probe may race the cut; every later one names the database.
    expect(down.length).toBeGreaterThanOrEqual(during.length - 1);
    expect(after.body?.status).toBe('ready');
    await agent.close();
  });

  it('with a tiny queue bound: new requests get a clear 503 once it is reached; nothing served goes unrecorded', async () => {
    await gw?.stop();
    const QUEUE_MAX = 20;
    gw = await startGatewayProcess({ databaseUrl: proxy.url(db.url), redisUrl: REDIS_URL, configFile, env: { LYSS_USAGE_FLUSH_MS: '200', LYSS_USAGE_QUEUE_MAX: String(QUEUE_MAX) } });
    const { tenantId, tokenId } = await ids(db.sql, 'acme', 'ci');
    const rowsBefore = await assistantRows(db.sql, tenantId);
    const spendBefore = await tokenUsedQuota(db.sql, tokenId);
    const agent = newAgent();
    expect((await chat(gw.url, { token: TEST_TOKEN, dispatcher: agent })).complete).toBe(true);
    await eventually(async () => expect(await assistantRows(db.sql, tenantId)).toBe(rowsBefore + 1), 5_000);

    proxy.cut();
    const outcomes = await drive(gw.url, { token: TEST_TOKEN, workers: 8, durationMs: 4_000, maxRequests: 400, dispatcher: agent });
    const queued = (await readyz(gw.url)).body?.counters?.usagePending ?? -1;
    proxy.restore();
    const counts = tally(outcomes);
    const answered = outcomes.filter((o) => o.complete).length;
    const refused = outcomes.filter((o) => o.status === 503);
    const rows = await eventually(async () => {
      const n = (await assistantRows(db.sql, tenantId)) - rowsBefore - 1;
      expect(n).toBe(answered);
      return n;
    }, 20_000, 250);
    const spend = (await tokenUsedQuota(db.sql, tokenId)) - spendBefore - COST;
    // Once written, the queue has room again.
    const again = await eventually(async () => {
      const o = await chat(gw!.url, { token: TEST_TOKEN, dispatcher: agent });
      expect(o.complete).toBe(true);
      return o;
    }, 10_000, 200);
    console.log(
      `[faults] postgres-outage queue-bound: max=${QUEUE_MAX} requests=${outcomes.length} answered=${answered} refused-503=${refused.length} ` +
        `queued=${queued} outcomes=${JSON.stringify(counts)} assistant-rows=${rows} used_quota=${spend} (expected ${answered * COST}) after-restore=${again.status}`,
    );
    // The bound is checked as a request starts and its record is queued after the answer went out: each of
    // the 8 clients may have one request past the check and the previous one's record not yet queued.
    expect(answered).toBeGreaterThanOrEqual(QUEUE_MAX);
    expect(answered).toBeLessThan(QUEUE_MAX + 2 * 8);
    expect(refused.length).toBeGreaterThan(50);
    for (const r of refused) {
      expect(JSON.parse(r.body)).toEqual({ error: { message: expect.stringMatching(/saturated recording usage/), type: 'server_error', param: null, code: 'service_unavailable' } });
    }
    expect(answered + refused.length).toBe(outcomes.length);
    expect(spend).toBe(answered * COST);
    await agent.close();
  });
});
