/**
 * kill -9 mid-load (design.md §4, §5). A hard crash loses what the usage queue held: records of requests
 * answered since the last batch write (LYSS_USAGE_FLUSH_MS) and the requests still streaming. On restart the
 * live quota counter is reconciled to what PostgreSQL recorded, and the reservations the dead process left
 * expire after LYSS_RESERVATION_TTL_MS. The test measures the loss and checks it against that bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { basicConfig, TEST_TOKEN } from '../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.js';
import { countChatPrompt } from '../../src/relay/tokenize.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';
import { drive } from './helpers/drive.js';
import { chat, newAgent, tally } from './helpers/load.js';
import { assertServices, assistantRows, createDatabase, eventually, gatewayBackends, gatewayBackendsGone, ids, readQuota, REDIS_URL, sleep, tokenQuotaKey, tokenUsedQuota, type FaultDatabase } from './helpers/services.js';

const CONTENT = 'Say hello.';
const PROMPT = countChatPrompt([{ role: 'user', content: CONTENT }]);
const COMPLETION = 7;
const COST = PROMPT + COMPLETION;
const FLUSH_MS = 300;
const TTL_MS = 1_000;
const LEASE_MS = 300;

let upstream: MockUpstream;
let db: FaultDatabase;
let redis: Redis;
let first: GatewayProcess | null = null;
let second: GatewayProcess | null = null;

beforeAll(async () => {
  await assertServices();
  upstream = await startMockUpstream();
  db = await createDatabase();
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  if (first?.alive) first.child.kill('SIGKILL');
  await second?.stop(5000);
  await upstream?.close();
  redis?.disconnect();
  await db?.drop();
});

describe('kill -9 mid-load', () => {
  it('on restart the counters reconcile to PostgreSQL and the dead reservations expire; the loss stays within one flush interval', async () => {
    // Non-stream answers are quick; the streams last ~2 s, so some are always mid-way when the process dies.
    upstream.script((req) =>
      req.body?.stream
        ? { kind: 'reply', usage: { prompt: PROMPT, completion: COMPLETION }, chunks: 20, chunkDelayMs: 100 }
        : { kind: 'reply', usage: { prompt: PROMPT, completion: COMPLETION } },
    );
    const configFile = writeConfig(basicConfig(upstream.url, { token: { quota: 1e9 } }));
    const env = { LYSS_USAGE_FLUSH_MS: String(FLUSH_MS), LYSS_RESERVATION_TTL_MS: String(TTL_MS), LYSS_LEASE_MS: String(LEASE_MS) };
    first = await startGatewayProcess({ databaseUrl: db.url, redisUrl: REDIS_URL, configFile, env });
    const { tenantId, tokenId } = await ids(db.sql, 'acme', 'ci');
    const key = tokenQuotaKey(tenantId, tokenId);
    const agent = newAgent();
    const opts = { token: TEST_TOKEN, content: CONTENT, maxTokens: COMPLETION, dispatcher: agent };

    // The load stops when the process dies (each loop's last request fails).
    const quick = drive(first.url, { ...opts, workers: 8, durationMs: 2_900, maxRequests: 20_000 });
    const streams = drive(first.url, { ...opts, stream: true, workers: 40, durationMs: 2_900, maxRequests: 2_000 });
    await sleep(2_900);
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    const exit = await first.exited;
    const outcomes = [...(await quick), ...(await streams)];
    const answered = outcomes.filter((o) => o.complete);
    const cut = outcomes.filter((o) => !o.complete);

    const atCrash = await readQuota(redis, key);
    const [backendsAfterExit, recordedAfterExit] = await Promise.all([gatewayBackends(db), tokenUsedQuota(db.sql, tokenId)]);
    await gatewayBackendsGone(db);
    const recorded = await tokenUsedQuota(db.sql, tokenId);
    const rows = await assistantRows(db.sql, tenantId);

    second = await startGatewayProcess({ databaseUrl: db.url, redisUrl: REDIS_URL, configFile, env, dataDir: first.dataDir });
    const reconciled = await readQuota(redis, key);
    // A quota lease's reservation outlasts the last request it may serve (the TTL after its six windows) by
    // another six windows. Booked before the reconcile, it then expires as nothing: PostgreSQL has its spend.
    await sleep(TTL_MS + 12 * LEASE_MS + 200);
    // One request sweeps the expired reservations; the counter is then PostgreSQL's record plus this request.
    const probe = await chat(second.url, opts);
    expect(probe.complete).toBe(true);
    const after = await eventually(async () => {
      const q = await readQuota(redis, key);
      expect(q).toEqual({ used: recorded + COST, reserved: 0, reservations: 0 });
      return q;
    }, 10_000, 100);
    await eventually(async () => expect(await tokenUsedQuota(db.sql, tokenId)).toBe(recorded + COST), 5_000);

    const lost = answered.length - rows;
    // Answers completed within the last flush interval (plus the write in progress) before the kill.
    const recent = answered.filter((o) => killedAt - o.endedAt <= FLUSH_MS + 500).length;
    console.log(
      `[faults] kill-9: exit-signal=${exit.signal} requests=${outcomes.length} answered=${answered.length} in-flight-at-kill=${cut.length} ` +
        `outcomes=${JSON.stringify(tally(outcomes))} pg-connections-after-exit=${backendsAfterExit} used_quota-after-exit=${recordedAfterExit} rows-written=${rows} used_quota=${recorded} (= rows x ${COST}: ${rows * COST}) ` +
        `lost-records=${lost} (answered within ${FLUSH_MS} ms + 500 ms of the kill: ${recent}) ` +
        `redis-at-crash used=${atCrash.used} reservations=${atCrash.reservations} -> at-restart used=${reconciled.used} reservations=${reconciled.reservations} ` +
        `-> after-ttl used=${after.used} reservations=${after.reservations}`,
    );
    expect(exit.signal).toBe('SIGKILL');
    // Each batch is one transaction: what was written is whole.
    expect(recorded).toBe(rows * COST);
    expect(lost).toBeGreaterThanOrEqual(0);
    expect(lost).toBeLessThanOrEqual(recent);
    // The dead process held more than was recorded (its requests' and its leases' reservations); the reconcile
    // at restart and the expiry of the reservations take it all back.
    expect(atCrash.used! + atCrash.reserved).toBeGreaterThan(recorded);
    expect(reconciled.used).toBe(recorded);
    expect(second.logs('quota counters reconciled from PostgreSQL').length).toBe(1);
    await agent.close();
  });
});
