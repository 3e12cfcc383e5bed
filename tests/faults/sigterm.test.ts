/**
 * SIGTERM under load (design.md §5): with 200 streams in flight the gateway stops accepting connections,
 * lets every stream finish within the grace period, flushes every usage record and exits 0. Requests
 * answered = assistant rows written = spend recorded, exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicConfig } from '../helpers/gateway.js';
import { DEFAULT_USAGE, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';
import { chat, newAgent, tally, type ChatOutcome } from './helpers/load.js';
import { assertServices, assistantRows, createDatabase, eventually, ids, REDIS_URL, sleep, tokenUsedQuota, type FaultDatabase } from './helpers/services.js';

const STREAMS = 200;
const GRACE_MS = 20_000;
const COST = DEFAULT_USAGE.prompt + DEFAULT_USAGE.completion;

let upstream: MockUpstream;
let db: FaultDatabase;
let gw: GatewayProcess | null = null;
let tokens = 0;

beforeAll(async () => {
  await assertServices();
  upstream = await startMockUpstream();
  db = await createDatabase();
});
afterAll(async () => {
  await gw?.stop(5000);
  await upstream?.close();
  await db?.drop();
});

describe('SIGTERM under load', () => {
  it.each([
    ['one process', '1'],
    ['a cluster primary with two workers', '2'],
  ])(`%s: finishes ${STREAMS} in-flight streams, refuses new connections, records every answer, exits 0`, async (label, workers) => {
    // Each stream lasts about 3 s: 30 chunks, 100 ms apart.
    upstream.reset();
    upstream.script(() => ({ kind: 'reply', content: 'x'.repeat(300), chunks: 30, chunkDelayMs: 100 }));
    // A token per run: the counts below are this run's alone.
    const name = `ci${++tokens}`;
    const token = `lyss-sigterm-${tokens}-`.padEnd(44, '0');
    gw = await startGatewayProcess({
      databaseUrl: db.url,
      redisUrl: REDIS_URL,
      configFile: writeConfig(basicConfig(upstream.url, { tokens: [{ name, user: 'dev@acme.test', key: token, quota: 1e9, rate_limit: 1_000_000 }] })),
      env: { LYSS_SHUTDOWN_GRACE_MS: String(GRACE_MS), LYSS_USAGE_FLUSH_MS: '1000', LYSS_WORKERS: workers },
    });
    const { tenantId, tokenId } = await ids(db.sql, 'acme', name);
    const rowsBefore = await assistantRows(db.sql, tenantId);
    const agent = newAgent();
    const streams: Promise<ChatOutcome>[] = Array.from({ length: STREAMS }, () => chat(gw!.url, { token, stream: true, dispatcher: agent }));
    // Every stream is at the upstream and has begun before the signal.
    await eventually(async () => {
      expect(upstream.requests.length).toBe(STREAMS);
      expect(upstream.requests.every((r) => r.framesSent > 0)).toBe(true);
    }, 20_000, 20);
    const signalledAt = Date.now();
    gw.child.kill('SIGTERM');
    await sleep(200);

    // New connections are refused while the streams drain.
    const late = await Promise.all(Array.from({ length: 20 }, () => chat(gw!.url, { token, dispatcher: newAgent(), timeoutMs: 5000 })));
    const lateTally = tally(late);
    expect(late.every((o) => o.status === 0), JSON.stringify(lateTally)).toBe(true);

    const outcomes = await Promise.all(streams);
    const exit = await gw.exited;
    const exitMs = Date.now() - signalledAt;
    await agent.close();
    const answered = outcomes.filter((o) => o.complete).length;
    const rows = (await assistantRows(db.sql, tenantId)) - rowsBefore;
    const spend = await tokenUsedQuota(db.sql, tokenId);
    console.log(
      `[faults] sigterm (${label}): streams=${STREAMS} answered=${answered} late-refused=${late.filter((o) => o.status === 0).length}/20 ` +
        `assistant-rows=${rows} used_quota=${spend} (expected ${answered * COST}) exit=${exit.code} after ${exitMs} ms (grace ${GRACE_MS} ms)`,
    );
    expect(tally(outcomes)).toEqual({ '200:complete': STREAMS });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(GRACE_MS);
    expect(rows).toBe(answered);
    expect(spend).toBe(answered * COST);
    expect(gw.logs('usage records spilled to disk; they are written at the next start')).toEqual([]);
    // Reconciled once at start: by the process, or by the primary before it forked (never by a worker).
    expect(gw.logs('quota counters reconciled from PostgreSQL')).toHaveLength(1);
  });
});
