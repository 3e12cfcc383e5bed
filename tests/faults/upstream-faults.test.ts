/**
 * Upstream misbehaviour (design.md §5): resets before headers and mid-stream, stalls before the first byte and
 * between chunks, invalid JSON, invalid SSE, an enormous answer, a client that reads slowly and one that sends
 * its headers slowly. The gateway answers each with the right error, never dies, and afterwards holds no
 * socket to an upstream or from a client, and no reservation: the token's live counter equals its recorded spend.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { basicConfig, TEST_TOKEN } from '../helpers/gateway.js';
import { startMockUpstream, type Behavior, type MockUpstream } from '../helpers/mock-upstream.js';
import { httpGet, startGatewayProcess, socketPeers, writeConfig, type GatewayProcess } from './helpers/gateway-process.js';
import { BIG_JSON_BYTES, ENDLESS_STREAM_BYTES, HUGE_STREAM_BYTES, startBulkUpstream, type BulkUpstream } from './helpers/bulk-upstream.js';
import { chat, newAgent, tally, type ChatOutcome } from './helpers/load.js';
import { assertServices, assistantRows, createDatabase, eventually, ids, readQuota, REDIS_URL, sleep, tokenQuotaKey, tokenUsedQuota, type FaultDatabase } from './helpers/services.js';

const PER_CASE = 6;

let upstream: MockUpstream;
let bulk: BulkUpstream;
let db: FaultDatabase;
let redis: Redis;
let gw: GatewayProcess;

const chunk = (content: string) => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] });

/** Mock behaviours by the user message's text. */
const FAULTS: Record<string, Behavior> = {
  'reset-before-headers': { kind: 'reset' },
  'stall-before-first-byte': { kind: 'stall', ms: 5_000 },
  'slow-headers': { kind: 'reply', headersDelayMs: 5_000 },
  'reset-mid-stream': { kind: 'cut', afterChunks: 3, chunks: 10 },
  'stall-between-chunks': { kind: 'cut', afterChunks: 3, chunks: 10, hang: true },
  'reset-mid-json': { kind: 'raw', contentType: 'application/json', body: JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hello there' }, finish_reason: 'stop' }] }), cutAfterBytes: 30 },
  'invalid-json': { kind: 'raw', contentType: 'application/json', body: '{"id": "x", "choices": [ nope' },
  'json-not-object': { kind: 'raw', contentType: 'application/json', body: '[1, 2, 3]' },
  'json-wrong-shapes': {
    kind: 'raw',
    contentType: 'application/json',
    body: '{"choices": [{"index": 0, "message": {"role": "assistant", "content": 5, "tool_calls": [1, null, {"function": 5}, {"id": "c", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": "many"}}',
  },
  'invalid-sse': { kind: 'raw', contentType: 'text/event-stream', body: 'garbage line\n\nevent: nonsense\ndata: {not json\n\ndata: still not json\n\n' },
  'sse-wrong-shapes': { kind: 'events', data: ['null', '{"choices": 5}', '{"choices": [null]}', '{"choices": [{"delta": 7}]}', '"text"', '{"usage": {"prompt_tokens": "x"}}', chunk('ok')], delayMs: 5 },
  'sse-without-end': { kind: 'events', data: [chunk('Hello'), chunk(' world')], delayMs: 5 },
  'sse-no-events': { kind: 'raw', contentType: 'text/event-stream', body: ': just a comment\n\n' },
  'status-500': { kind: 'status', status: 500 },
  'status-429': { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
};

beforeAll(async () => {
  await assertServices();
  upstream = await startMockUpstream();
  upstream.script((req) => {
    const text = req.body?.messages?.[0]?.content;
    return typeof text === 'string' ? FAULTS[text] : undefined;
  });
  bulk = await startBulkUpstream();
  db = await createDatabase();
  redis = new Redis(REDIS_URL);
  const channel = (name: string, url: string, models: string[]) => ({ name, type: 'openai', base_url: url, key: `sk-${name}`, models, priority: 10, weight: 1, rate_limit: 1_000_000, quota: -1, scope: 'tenant' });
  gw = await startGatewayProcess({
    databaseUrl: db.url,
    redisUrl: REDIS_URL,
    configFile: writeConfig(
      basicConfig(upstream.url, {
        channels: [channel('mock', upstream.url, ['gpt-4o-mini']), channel('bulk', bulk.url, ['huge-json', 'big-json', 'huge-stream', 'endless-stream', 'stall-body'])],
        token: { quota: 1e12 },
      }),
    ),
    env: {
      LYSS_FIRST_BYTE_TIMEOUT_MS: '1500',
      LYSS_IDLE_TIMEOUT_MS: '1500',
      LYSS_RELAY_RETRIES: '0',
      LYSS_COOLDOWN_FAILURES: '1000000',
      LYSS_USAGE_FLUSH_MS: '100',
      LYSS_BODY_LIMIT_BYTES: String(1024 * 1024),
      // A quota lease holds its units reserved until it ends, 1-1.5 windows after its key's last request:
      // within the wait below for the live counter to equal the recorded spend.
      LYSS_LEASE_MS: '1000',
    },
  });
});
afterAll(async () => {
  await gw?.stop(5000);
  await upstream?.close();
  await bulk?.close();
  redis?.disconnect();
  await db?.drop();
});

function summary(outcomes: ChatOutcome[]): string {
  return Object.entries(tally(outcomes)).map(([k, v]) => `${k}x${v}`).join(',');
}

describe('upstream misbehaviour', () => {
  it('every fault gets its error, the process lives, and no socket or reservation is left behind', async () => {
    const { tenantId, tokenId } = await ids(db.sql, 'acme', 'ci');
    const agent = newAgent();
    const baseline = socketPeers(gw.pid, gw.port);
    const results: Record<string, ChatOutcome[]> = {};
    const run = async (name: string, opts: { stream: boolean; model?: string; content?: string }) => {
      results[`${name}/${opts.stream ? 'stream' : 'json'}`] = await Promise.all(
        Array.from({ length: opts.model ? 2 : PER_CASE }, () => chat(gw.url, { token: TEST_TOKEN, dispatcher: agent, stream: opts.stream, model: opts.model, content: opts.content ?? name, timeoutMs: 30_000 })),
      );
    };
    // The faults run together, as they would in production; the bulky ones after (on two cores they would
    // delay the others past the short timeouts this test sets).
    await Promise.all([
      ...Object.keys(FAULTS).flatMap((name) => [run(name, { stream: false }), run(name, { stream: true })]),
      run('healthy', { stream: true, content: 'hello' }),
      run('healthy', { stream: false, content: 'hello' }),
    ]);
    await Promise.all([
      run('huge-json', { stream: false, model: 'huge-json' }),
      run('big-json', { stream: false, model: 'big-json' }),
      run('huge-stream', { stream: true, model: 'huge-stream' }),
      run('stall-body', { stream: false, model: 'stall-body' }),
    ]);
    const slow = await slowReader(gw, 3_000);
    // While one client dribbles its headers (Node cuts it after headersTimeout, 60 s), others are served.
    const [dribble, meanwhile] = await Promise.all([slowHeaders(gw, 2_000), sleep(500).then(() => chat(gw.url, { token: TEST_TOKEN, dispatcher: agent, content: 'hello' }))]);
    await agent.close();

    const expectAll = (key: string, check: (o: ChatOutcome) => boolean) => {
      const list = results[key]!;
      expect(list.every(check), `${key}: ${summary(list)} ${list[0]?.body.slice(0, 300)}`).toBe(true);
    };
    const err = (status: number, code: string) => (o: ChatOutcome) => o.status === status && o.code === code && isErrorShape(o.body);
    const streamError = (o: ChatOutcome) => o.status === 200 && !o.complete && o.code === 'upstream_error' && o.frames >= 2;
    for (const mode of ['json', 'stream']) {
      expectAll(`reset-before-headers/${mode}`, err(502, 'upstream_error'));
      expectAll(`stall-before-first-byte/${mode}`, err(504, 'upstream_timeout'));
      expectAll(`slow-headers/${mode}`, err(504, 'upstream_timeout'));
      expectAll(`status-500/${mode}`, err(502, 'upstream_error'));
      expectAll(`status-429/${mode}`, (o) => o.status === 429 && isErrorShape(o.body));
      expectAll(`invalid-json/${mode}`, err(502, 'upstream_error'));
      // Valid JSON of the wrong shape is relayed as the upstream sent it (the gateway does not validate answers).
      expectAll(`json-not-object/${mode}`, (o) => o.status === 502 || o.status === 200);
      expectAll(`json-wrong-shapes/${mode}`, (o) => o.status === 502 || o.status === 200);
      expectAll(`sse-no-events/${mode}`, err(502, 'upstream_error'));
      expectAll(`healthy/${mode}`, (o) => o.complete);
    }
    expectAll('reset-mid-stream/stream', streamError);
    expectAll('stall-between-chunks/stream', streamError);
    expectAll('sse-without-end/stream', streamError);
    expectAll('reset-mid-json/json', err(502, 'upstream_error'));
    expectAll('reset-mid-json/stream', err(502, 'upstream_error'));
    expectAll('invalid-sse/json', err(502, 'upstream_error'));
    expectAll('invalid-sse/stream', (o) => o.status === 200 && o.code === 'upstream_error');
    expectAll('sse-wrong-shapes/stream', (o) => o.status === 200 && o.code === 'upstream_error');
    expectAll('huge-json/json', err(502, 'upstream_error'));
    expectAll('big-json/json', (o) => o.complete && o.body.length > BIG_JSON_BYTES);
    expectAll('huge-stream/stream', (o) => o.complete && o.body.length > HUGE_STREAM_BYTES);
    expectAll('stall-body/json', (o) => o.status === 502 || o.status === 504);

    // The slow reader held the upstream back (backpressure: only socket buffers in between) and, once gone,
    // the upstream was aborted.
    expect(slow.upstreamBytesAtClose).toBeLessThan(ENDLESS_STREAM_BYTES / 8);
    expect(slow.upstreamClosedAfterMs).toBeLessThan(1_000);
    expect(meanwhile.complete).toBe(true);

    // Nothing is left: no upstream exchange open, no client socket, no upstream socket once idle ones expire.
    await eventually(async () => {
      expect(upstream.requests.filter((r) => r.closedAt === null)).toEqual([]);
      expect(bulk.requests.filter((r) => r.closedAt === null)).toEqual([]);
    }, 10_000, 100);
    const peers = await eventually(async () => {
      const p = socketPeers(gw.pid, gw.port);
      expect(p.inbound).toBe(0);
      expect(p.to[upstream.port] ?? 0).toBe(0);
      expect(p.to[Number(new URL(bulk.url).port)] ?? 0).toBe(0);
      return p;
    }, 15_000, 250);
    const failedAfterStart = gw.logs('relay failed after the response started');
    for (const l of failedAfterStart.slice(0, 3)) console.log(JSON.stringify(l).slice(0, 600));
    expect(failedAfterStart).toEqual([]);
    // No reservation leaked: the live counter is the recorded spend.
    const recorded = await eventually(async () => {
      const used = await tokenUsedQuota(db.sql, tokenId);
      expect(await readQuota(redis, tokenQuotaKey(tenantId, tokenId))).toEqual({ used, reserved: 0, reservations: 0 });
      return used;
    }, 10_000, 100);
    const rows = await assistantRows(db.sql, tenantId);
    const health = await httpGet(`${gw.url}/healthz`);
    console.log(
      `[faults] upstream: ${Object.entries(results).map(([k, v]) => `${k}=${summary(v)}`).join(' ')} ` +
        `slow-reader: read ${slow.clientBytes} B in ${slow.ms} ms while upstream wrote ${slow.upstreamBytesAtClose} B of ${ENDLESS_STREAM_BYTES}, upstream closed ${slow.upstreamClosedAfterMs} ms after the client; ` +
        `slow-headers: ${dribble.answered ? `answered ${dribble.status}` : dribble.closedByGateway ? 'closed by gateway' : 'still waiting (client left)'} after ${dribble.ms} ms, another client served meanwhile=${meanwhile.complete}; ` +
        `sockets before=${JSON.stringify(baseline)} after=${JSON.stringify(peers)}; mock requests=${upstream.requests.length} bulk=${bulk.requests.length} all closed; ` +
        `used_quota=${recorded} = redis used, reservations 0; assistant-rows=${rows}; alive=${gw.alive} healthz=${health.status}`,
    );
    expect(gw.alive).toBe(true);
    expect(health.status).toBe(200);
    expect(gw.output()).not.toMatch(/unhandled error|uncaught/i);
  });
});

function isErrorShape(body: string): boolean {
  try {
    const e = (JSON.parse(body) as { error: Record<string, unknown> }).error;
    return Object.keys(e).sort().join(',') === 'code,message,param,type' && typeof e.message === 'string';
  } catch {
    return false;
  }
}

/** Requests a huge stream over a raw socket and reads ~16 KB every 100 ms for `ms`, then goes away. */
async function slowReader(gw: GatewayProcess, ms: number) {
  const before = bulk.requests.length;
  const socket = net.connect(gw.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const body = JSON.stringify({ model: 'endless-stream', stream: true, messages: [{ role: 'user', content: 'slow' }] });
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TEST_TOKEN}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.pause();
  let clientBytes = 0;
  const started = Date.now();
  while (Date.now() - started < ms) {
    await sleep(100);
    let read = 0;
    let c: Buffer | null;
    while (read < 16 * 1024 && (c = socket.read(Math.min(4096, 16 * 1024 - read)) as Buffer | null) !== null) read += c.length;
    clientBytes += read;
  }
  const req = bulk.requests[before];
  const upstreamBytesAtClose = req?.bytesWritten ?? -1;
  const closedAt = Date.now();
  socket.destroy();
  await eventually(async () => expect(req?.closedAt).not.toBeNull(), 5_000, 20);
  return { clientBytes, ms: Date.now() - started, upstreamBytesAtClose, upstreamClosedAfterMs: req!.closedAt! - closedAt };
}

/** A client that sends its request line and then one header byte every 100 ms (classic slow-loris). */
async function slowHeaders(gw: GatewayProcess, ms: number) {
  const socket = net.connect(gw.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let closedByGateway = false;
  let response = '';
  socket.on('data', (d) => (response += d));
  socket.on('close', () => (closedByGateway = true));
  socket.on('error', () => {});
  const started = Date.now();
  socket.write('POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n');
  const header = 'x-slow: ' + 'a'.repeat(100);
  for (let i = 0; i < header.length && Date.now() - started < ms && !closedByGateway; i++) {
    socket.write(header[i]!);
    await sleep(100);
  }
  const answered = response.startsWith('HTTP/1.1');
  socket.destroy();
  return { closedByGateway, answered, status: response.slice(9, 12), ms: Date.now() - started };
}
