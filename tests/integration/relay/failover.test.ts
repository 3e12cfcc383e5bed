/**
 * Failover: a retryable failure before the first byte (500, 429, reset, a stream that dies before its first
 * event) moves to another channel, same tier first, then lower tiers, at most LYSS_RELAY_RETRIES more
 * calls, as does a channel whose key upstream refuses (401/403) or whose account lacks the model (404); a
 * non-retryable 400 is not retried. The failed attempt's reservation is released.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { channelOf, DEFAULT_REPLY, startMockUpstream, type Behavior, type MockUpstream } from '../../helpers/mock-upstream.js';
import { channelRow, expectApiError, sdk, tenantIdOf } from '../../helpers/relay.js';

let upstream: MockUpstream;
let gw: TestGateway;
let tenantId: string;
const ids: Record<string, string> = {};

const TIER_1 = ['a1', 'a2'];

function channel(name: string, priority: number, models = ['gpt-4o-mini']) {
  // A finite (huge) quota, so every attempt holds a real reservation that must be released on failure.
  return { name, type: 'openai', base_url: `${upstream.url}/${name}`, key: `sk-key-${name}`, models, priority, weight: 1, rate_limit: 100000, quota: 1e12, scope: 'tenant' };
}

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    env: { LYSS_COOLDOWN_FAILURES: '100000', LYSS_RELAY_RETRIES: '2' },
    config: basicConfig(upstream.url, {
      channels: [channel('a1', 10), channel('a2', 10), channel('b', 5), channel('c', 1), channel('k1', 10, ['keyed-model']), channel('k2', 1, ['keyed-model']), channel('solo', 10, ['solo-model']), channel('single', 10, ['single-model'])],
      token: { quota: 1e12 },
    }),
  });
  tenantId = await tenantIdOf(gw);
  for (const name of ['a1', 'a2', 'b', 'c', 'k1', 'k2', 'solo', 'single']) ids[name] = (await channelRow(gw, tenantId, name)).id;
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

const hi = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
const served = () => upstream.requests.map(channelOf);

/** Fails the first `n` requests with `failure`, answers the rest normally. */
function failFirst(n: number, failure: Behavior) {
  upstream.script(() => (upstream.requests.length <= n ? failure : undefined));
}

/** No reservation is left on any channel: live counters equal what was settled. */
async function expectNoReservations() {
  await eventually(async () => {
    for (const [name, id] of Object.entries(ids)) {
      const live = (await gw.deps.store.quotaUsed(`{${tenantId}}:q:c:${id}`)) ?? 0;
      const row = await channelRow(gw, tenantId, name);
      expect(live, `channel ${name}`).toBe(row.usedQuota);
    }
  });
}

describe('failover', () => {
  it.each([
    ['500', { kind: 'status', status: 500 } as Behavior],
    ['503', { kind: 'status', status: 503 } as Behavior],
    ['429', { kind: 'status', status: 429, headers: { 'retry-after': '1' } } as Behavior],
    ['a connection reset', { kind: 'reset' } as Behavior],
  ])('on %s, to the other channel of the same tier', async (_label, failure) => {
    failFirst(1, failure);
    const r = await sdk(gw).chat.completions.create(hi);
    expect(r.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(served()).toHaveLength(2);
    expect(new Set(served())).toEqual(new Set(TIER_1));
    await expectNoReservations();
  });

  it('a stream fails over too, and the client sees one clean stream', async () => {
    failFirst(1, { kind: 'status', status: 502 });
    const stream = await sdk(gw).chat.completions.create({ ...hi, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(DEFAULT_REPLY);
    expect(new Set(served())).toEqual(new Set(TIER_1));
  });

  it('a stream that dies before its first event fails over', async () => {
    failFirst(1, { kind: 'cut', afterChunks: 0 });
    const stream = await sdk(gw).chat.completions.create({ ...hi, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(DEFAULT_REPLY);
    expect(served()).toHaveLength(2);
    await expectNoReservations();
  });

  it('a stream whose first event is an error event fails over, and the client never sees it', async () => {
    failFirst(1, { kind: 'raw', contentType: 'text/event-stream', body: `data: ${JSON.stringify({ error: { message: 'Overloaded sk-mocksecret123456', type: 'server_error' } })}\n\n` });
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...hi, stream: true }),
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain('Overloaded');
    expect(text).not.toContain('"error"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(new Set(served())).toEqual(new Set(TIER_1));
    await expectNoReservations();
  });

  it('an answer of 200 whose body is an error object fails over: the client never sees it, its reservation is released', async () => {
    failFirst(1, { kind: 'status', status: 200, body: { error: { message: 'Overloaded sk-mocksecret123456', type: 'server_error' } } });
    const r = await sdk(gw).chat.completions.create(hi);
    expect(r.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(served()).toHaveLength(2);
    expect(new Set(served())).toEqual(new Set(TIER_1));
    await expectNoReservations();
  });

  it('an upstream 429 as the last word: the client gets its Retry-After', async () => {
    upstream.script(() => ({ kind: 'status', status: 429, headers: { 'retry-after': '7' }, body: { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } } }));
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...hi, model: 'single-model' }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    await expectNoReservations();
  });

  it('an upstream 400 reaches the client with the parameter it blamed', async () => {
    upstream.script(() => ({ kind: 'status', status: 400, body: { error: { message: "Invalid 'temperature': decimal above maximum value.", type: 'invalid_request_error', param: 'temperature', code: 'decimal_above_max_value' } } }));
    await expectApiError(sdk(gw).chat.completions.create({ ...hi, model: 'single-model', temperature: 3 }), {
      status: 400,
      type: 'invalid_request_error',
      code: 'decimal_above_max_value',
      param: 'temperature',
    });
  });

  it('an answer of 200 whose body says the request is invalid: the client gets a 400 with its words, no other channel is tried', async () => {
    failFirst(1, { kind: 'status', status: 200, body: { error: { message: "Invalid 'temperature': decimal above maximum value.", type: 'invalid_request_error', param: 'temperature', code: 'decimal_above_max_value' } } });
    const err = await expectApiError(sdk(gw).chat.completions.create({ ...hi, temperature: 3 }), { status: 400, type: 'invalid_request_error', code: 'decimal_above_max_value', param: 'temperature' });
    expect(err.message).toContain("Invalid 'temperature'");
    expect(served()).toHaveLength(1);
    await expectNoReservations();
  });

  it('when the whole top tier fails, to the next tier down', async () => {
    failFirst(2, { kind: 'status', status: 500 });
    const r = await sdk(gw).chat.completions.create(hi);
    expect(r.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(new Set(served().slice(0, 2))).toEqual(new Set(TIER_1));
    expect(served()[2]).toBe('b');
  });

  it('stops after LYSS_RELAY_RETRIES retries (1 + 2 calls) and answers 502', async () => {
    upstream.script(() => ({ kind: 'status', status: 500 }));
    await expectApiError(sdk(gw).chat.completions.create(hi), { status: 502, type: 'server_error', code: 'upstream_error' });
    expect(served()).toHaveLength(3);
    expect(new Set(served().slice(0, 2))).toEqual(new Set(TIER_1));
    expect(served()[2]).toBe('b');
    await expectNoReservations();
  });

  it('honours a smaller LYSS_RELAY_RETRIES', async () => {
    const config = gw.deps.relay.config;
    upstream.script(() => ({ kind: 'status', status: 500 }));
    try {
      config.LYSS_RELAY_RETRIES = 0;
      await expectApiError(sdk(gw).chat.completions.create(hi), { status: 502, type: 'server_error', code: 'upstream_error' });
      expect(served()).toHaveLength(1);
      upstream.reset();
      upstream.script(() => ({ kind: 'status', status: 500 }));
      config.LYSS_RELAY_RETRIES = 1;
      await expectApiError(sdk(gw).chat.completions.create(hi), { status: 502, type: 'server_error', code: 'upstream_error' });
      expect(served()).toHaveLength(2);
    } finally {
      config.LYSS_RELAY_RETRIES = 2;
    }
  });

  it('every channel rate limiting: 429 rate_limit_exceeded after the retries', async () => {
    upstream.script(() => ({ kind: 'status', status: 429 }));
    await expectApiError(sdk(gw).chat.completions.create(hi), { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    expect(served()).toHaveLength(3);
  });

  it.each([
    ['a model the account lacks', { error: { message: 'The model `gpt-4o-mini-x` does not exist or you do not have access to it.', type: 'invalid_request_error', param: null, code: 'model_not_found' } }],
    ["Azure's missing deployment", { error: { code: 'DeploymentNotFound', message: 'The API deployment for this resource does not exist.' } }],
  ])('a 404 (%s) moves to the next channel, and does not count against the channel\'s health', async (_label, body) => {
    const failures = () => Promise.all(TIER_1.map((name) => gw.deps.store.hit(`{${tenantId}}:fail:${ids[name]}`, 60_000, 0)));
    const before = await failures();
    failFirst(1, { kind: 'status', status: 404, body });
    const r = await sdk(gw).chat.completions.create(hi);
    expect(r.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(served()).toHaveLength(2);
    expect(await failures()).toEqual(before);
    await expectNoReservations();
  });

  it('a 404 from every channel: the last one reaches the client', async () => {
    upstream.script(() => ({ kind: 'status', status: 404, body: { error: { message: 'The model `gpt-4o-mini` does not exist.', type: 'invalid_request_error', param: null, code: 'model_not_found' } } }));
    const err = await expectApiError(sdk(gw).chat.completions.create(hi), { status: 404, type: 'invalid_request_error', code: 'model_not_found' });
    expect(err.message).toContain('does not exist');
    expect(served()).toHaveLength(3);
  });

  it('a 400 is not retried', async () => {
    upstream.script(() => ({ kind: 'status', status: 400, body: { error: { message: 'bad tool schema', type: 'invalid_request_error', param: 'tools', code: null } } }));
    await expectApiError(sdk(gw).chat.completions.create(hi), { status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request' });
    expect(served()).toHaveLength(1);
    await expectNoReservations();
  });

  it('a healthy top tier takes every request, spread over its channels', async () => {
    for (let i = 0; i < 40; i++) await sdk(gw).chat.completions.create(hi);
    expect(served().every((c) => TIER_1.includes(c))).toBe(true);
    expect(new Set(served())).toEqual(new Set(TIER_1));
  });

  it('an upstream 401 is the channel key\'s fault: the request moves to the next channel, the key\'s goes to status 3 and is skipped after', async () => {
    upstream.script((req) => (channelOf(req) === 'k1' ? { kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided: sk-key-k1', type: 'invalid_request_error', code: 'invalid_api_key' } } } : undefined));
    const r = await sdk(gw).chat.completions.create({ ...hi, model: 'keyed-model' });
    expect(r.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(served()).toEqual(['k1', 'k2']);
    await eventually(async () => expect((await channelRow(gw, tenantId, 'k1')).status).toBe(3));
    // The change notification reaches the channel cache: the next request goes straight to k2.
    await eventually(async () => {
      upstream.reset();
      await sdk(gw, TEST_TOKEN).chat.completions.create({ ...hi, model: 'keyed-model' });
      expect(served()).toEqual(['k2']);
    }, 2000);
    await expectNoReservations();
  });

  it('an upstream 403 on the only channel: 502 in OpenAI shape, the key never shown', async () => {
    upstream.script((req) => (channelOf(req) === 'solo' ? { kind: 'status', status: 403, body: { error: { message: 'Project sk-key-solo does not have access', type: 'invalid_request_error', code: 'model_not_found' } } } : undefined));
    const err = await expectApiError(sdk(gw).chat.completions.create({ ...hi, model: 'solo-model' }), { status: 502, type: 'server_error', code: 'upstream_error' });
    expect(JSON.stringify(err.error)).not.toContain('sk-key-solo');
    expect(served()).toEqual(['solo']);
    await expectNoReservations();
  });
});
