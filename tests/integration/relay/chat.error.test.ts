/**
 * Every refusal under /v1, in OpenAI's shape {error: {message, type, param, code}} with OpenAI's status and
 * an x-request-id: bad bodies, bad tokens, models, limits, quota, and upstream failures after retries.
 * An upstream's raw error body never reaches the client.
 */
import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { basicConfig, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { channelOf, MOCK_SECRET, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { expectApiError, expectErrorShape, inTenant, raw, sdk, tenantIdOf } from '../../helpers/relay.js';
import { providerChannels, providerTokens } from '../../../src/db/schema/index.js';

const DISABLED = 'lyss-disabled-0123456789abcdef0123456789';
const EXPIRED = 'lyss-expired-0123456789abcdef01234567890';
const RESTRICTED = 'lyss-restricted-0123456789abcdef01234567';
const POOR = 'lyss-poor-0123456789abcdef0123456789abcd';
const SLOW = 'lyss-slow-0123456789abcdef0123456789abcd';
const BODY_LIMIT = 8192;

let upstream: MockUpstream;
let gw: TestGateway;

function channel(name: string, models: string[], extra: Record<string, unknown> = {}) {
  return { name, type: 'openai', base_url: `${upstream.url}/${name}`, key: `sk-key-${name}`, models, priority: 10, weight: 1, rate_limit: 100000, quota: -1, scope: 'tenant', ...extra };
}
function token(name: string, key: string, extra: Record<string, unknown> = {}) {
  return { name, user: 'dev@acme.test', key, allowed_models: [], allowed_channels: [], quota: -1, rate_limit: 100000, ...extra };
}

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    env: { LYSS_BODY_LIMIT_BYTES: String(BODY_LIMIT), LYSS_FIRST_BYTE_TIMEOUT_MS: '300', LYSS_COOLDOWN_FAILURES: '100000' },
    config: basicConfig(upstream.url, {
      channels: [
        channel('main', ['gpt-4o-mini', 'gpt-4o']),
        channel('flaky1', ['flaky-model']),
        channel('flaky2', ['flaky-model']),
        channel('parked', ['parked-model']),
      ],
      tokens: [
        token('ci', TEST_TOKEN),
        token('disabled', DISABLED),
        token('expired', EXPIRED, { expires_at: '2020-01-01T00:00:00Z' }),
        token('restricted', RESTRICTED, { allowed_models: ['gpt-4o-mini'] }),
        token('poor', POOR, { quota: 5 }),
        token('slow', SLOW, { rate_limit: 2 }),
      ],
    }),
  });
  const tenantId = await tenantIdOf(gw);
  await inTenant(gw, tenantId, async (tx) => {
    await tx.update(providerTokens).set({ status: 2 }).where(eq(providerTokens.name, 'disabled'));
    await tx.update(providerChannels).set({ status: 2 }).where(eq(providerChannels.name, 'parked'));
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

const hi = (model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user' as const, content: 'hi' }] });

async function rawError(res: Response, want: { status: number; type: string; code: string; param?: string | null }) {
  expect(res.status).toBe(want.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  const body = (await res.json()) as { error: unknown };
  expect(Object.keys(body)).toEqual(['error']);
  expectErrorShape(body.error, want);
  return body.error as { message: string };
}

describe('malformed and invalid requests: 400', () => {
  it('malformed JSON', async () => {
    await rawError(await raw(gw, '/v1/chat/completions', { body: '{"model": "gpt-4o-mini", "messages": [' }), { status: 400, type: 'invalid_request_error', code: 'invalid_json', param: null });
  });

  it('an empty body, and a body that is not an object', async () => {
    await rawError(await raw(gw, '/v1/chat/completions', { body: '' }), { status: 400, type: 'invalid_request_error', code: 'invalid_json' });
    await rawError(await raw(gw, '/v1/chat/completions', { body: '[1,2]' }), { status: 400, type: 'invalid_request_error', code: 'invalid_request_error' });
  });

  it.each([
    ['messages', { model: 'gpt-4o-mini' }, 'missing_required_parameter'],
    ['model', { messages: [{ role: 'user', content: 'hi' }] }, 'missing_required_parameter'],
    ['messages', { model: 'gpt-4o-mini', messages: 'hi' }, 'invalid_type'],
    ['model', { model: 42, messages: [{ role: 'user', content: 'hi' }] }, 'invalid_type'],
    ['messages', { model: 'gpt-4o-mini', messages: [] }, 'invalid_value'],
    ['messages[0].role', { model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'hi' }] }, 'invalid_value'],
    ['max_tokens', { ...hi(), max_tokens: -5 }, 'invalid_value'],
    ['stream', { ...hi(), stream: 'yes' }, 'invalid_type'],
    ['n', { ...hi(), n: 0 }, 'invalid_value'],
  ])('names the bad parameter %s', async (param, body, code) => {
    const err = await expectApiError(sdk(gw).chat.completions.create(body as never), { status: 400, type: 'invalid_request_error', code, param });
    expect(err.message).toContain(param);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('authentication: 401 and 403', () => {
  it('no token: 401 invalid_api_key', async () => {
    await rawError(await raw(gw, '/v1/chat/completions', { token: null, body: JSON.stringify(hi()) }), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key', param: null });
    await rawError(await raw(gw, '/v1/chat/completions', { token: null, headers: { authorization: 'Bearer ' }, body: JSON.stringify(hi()) }), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
  });

  it('unknown token: 401 invalid_api_key, without echoing the token', async () => {
    const bogus = 'lyss-bogus-bogus-bogus-bogus-bogus-bogus-42';
    const err = await expectApiError(sdk(gw, bogus).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
    expect(JSON.stringify(err.error)).not.toContain(bogus);
  });

  it('disabled token: 401 invalid_api_key', async () => {
    await expectApiError(sdk(gw, DISABLED).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
  });

  it('expired token: 401 token_expired', async () => {
    await expectApiError(sdk(gw, EXPIRED).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'token_expired' });
  });

  it('the same refusals on every /v1 endpoint', async () => {
    for (const key of ['lyss-nope-nope-nope-nope-nope-nope-nope-00', DISABLED]) {
      const client = sdk(gw, key);
      await expectApiError(client.models.list(), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
      await expectApiError(client.models.retrieve('gpt-4o-mini'), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
      await expectApiError(client.embeddings.create({ model: 'gpt-4o-mini', input: 'x' }), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
      await expectApiError(client.completions.create({ model: 'gpt-4o-mini', prompt: 'x' }), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
    }
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('models: 403 and 404', () => {
  it('a model the token may not use: 403', async () => {
    await expectApiError(sdk(gw, RESTRICTED).chat.completions.create(hi('gpt-4o')), { status: 403, type: 'invalid_request_error', code: 'model_not_allowed', param: 'model' });
    const ok = await sdk(gw, RESTRICTED).chat.completions.create(hi('gpt-4o-mini'));
    expect(ok.choices).toHaveLength(1);
  });

  it('a model no visible channel serves: 404 model_not_found', async () => {
    await expectApiError(sdk(gw).chat.completions.create(hi('gpt-9-ultra')), { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('size: 413', () => {
  const big = () => JSON.stringify({ ...hi(), messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT * 2) }] });

  it('a body over LYSS_BODY_LIMIT_BYTES', async () => {
    await expectApiError(sdk(gw).chat.completions.create(JSON.parse(big())), { status: 413, type: 'invalid_request_error', code: 'request_too_large' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('a chunked body (no content-length) that grows over the limit', async () => {
    const text = new TextEncoder().encode(big());
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= text.length) return controller.close();
        controller.enqueue(text.subarray(sent, sent + 1024));
        sent += 1024;
      },
    });
    await rawError(await raw(gw, '/v1/chat/completions', { body }), { status: 413, type: 'invalid_request_error', code: 'request_too_large' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('a body just under the limit is served', async () => {
    const r = await sdk(gw).chat.completions.create({ ...hi(), messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT - 200) }] });
    expect(r.choices).toHaveLength(1);
  });
});

describe('limits: 429', () => {
  it('token rate limit: 429 rate_limit_exceeded with Retry-After', async () => {
    const client = sdk(gw, SLOW);
    await client.chat.completions.create(hi());
    await client.chat.completions.create(hi());
    const err = await expectApiError(client.chat.completions.create(hi()), { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    const retryAfter = Number(err.headers!.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(upstream.requests).toHaveLength(2);
  });

  it('quota: 429 insufficient_quota, and the upstream is never called', async () => {
    await expectApiError(sdk(gw, POOR).chat.completions.create({ ...hi(), messages: [{ role: 'user', content: 'please write me a long essay about the sea' }] }), {
      status: 429,
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    });
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('upstream failures', () => {
  it('an upstream 400 comes back as 400 in OpenAI shape, without the raw upstream body', async () => {
    upstream.script(() => ({
      kind: 'status',
      status: 400,
      body: { error: { message: `Invalid 'temperature': decimal above maximum value (request from key ${MOCK_SECRET}).`, type: 'invalid_request_error', param: 'temperature', code: 'decimal_above_max_value' } },
    }));
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify({ ...hi(), temperature: 9 }) });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(text).not.toContain(MOCK_SECRET);
    expect(text).not.toContain('mocksecret');
    const body = JSON.parse(text) as { error: { message: string } };
    expectErrorShape(body.error, { type: 'invalid_request_error', code: 'decimal_above_max_value' });
    expect(body.error.message).toContain('temperature');
    expect(upstream.requests).toHaveLength(1);
  });

  it('an upstream 400 with a non-JSON body: a generic message, nothing of the body', async () => {
    upstream.script(() => ({ kind: 'raw', status: 400, contentType: 'text/html', body: `<html>bad request ${MOCK_SECRET}</html>` }));
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify(hi()) });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text).not.toContain(MOCK_SECRET);
    expect(text).not.toContain('<html>');
    expectErrorShape((JSON.parse(text) as { error: unknown }).error, { type: 'invalid_request_error', code: 'upstream_invalid_request' });
  });

  it('every channel failing with 5xx: 502 upstream_error, no upstream detail', async () => {
    upstream.script(() => ({ kind: 'status', status: 500 }));
    const err = await expectApiError(sdk(gw).chat.completions.create(hi('flaky-model')), { status: 502, type: 'server_error', code: 'upstream_error' });
    expect(JSON.stringify(err.error)).not.toContain(MOCK_SECRET);
    expect(new Set(upstream.requests.map(channelOf))).toEqual(new Set(['flaky1', 'flaky2']));
  });

  it('every channel resetting the connection: 502 upstream_error', async () => {
    upstream.script(() => ({ kind: 'reset' }));
    await expectApiError(sdk(gw).chat.completions.create(hi('flaky-model')), { status: 502, type: 'server_error', code: 'upstream_error' });
    expect(upstream.requests).toHaveLength(2);
  });

  it('every channel silent past the first-byte timeout: 504 upstream_timeout', async () => {
    upstream.script(() => ({ kind: 'stall', ms: 6000 }));
    const started = Date.now();
    await expectApiError(sdk(gw).chat.completions.create(hi('flaky-model')), { status: 504, type: 'server_error', code: 'upstream_timeout' });
    // undici's header timer ticks about once a second: two attempts take about 2 s, well before the stall ends.
    expect(Date.now() - started).toBeLessThan(4500);
    expect(upstream.requests).toHaveLength(2);
  });

  it('the same for a stream request that never gets a first byte: a plain 504, not a broken stream', async () => {
    upstream.script(() => ({ kind: 'stall', ms: 6000 }));
    await expectApiError(sdk(gw).chat.completions.create({ ...hi('flaky-model'), stream: true }), { status: 504, type: 'server_error', code: 'upstream_timeout' });
  });

  it('a model whose only channels are disabled: 503 no_available_channel', async () => {
    await expectApiError(sdk(gw).chat.completions.create(hi('parked-model')), { status: 503, type: 'server_error', code: 'no_available_channel' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('an upstream 200 that is not JSON: 502, never the raw text', async () => {
    upstream.script(() => ({ kind: 'raw', contentType: 'text/html', body: `<html>proxy error ${MOCK_SECRET}</html>` }));
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify(hi('flaky-model')) });
    const text = await res.text();
    expect(res.status).toBe(502);
    expect(text).not.toContain(MOCK_SECRET);
    expectErrorShape((JSON.parse(text) as { error: unknown }).error, { type: 'server_error', code: 'upstream_error' });
  });
});

describe('routing', () => {
  it('a wrong method: 405 in OpenAI shape', async () => {
    await rawError(await raw(gw, '/v1/chat/completions', { method: 'GET' }), { status: 405, type: 'invalid_request_error', code: 'method_not_allowed' });
  });

  it('an unknown path under /v1: 404 in OpenAI shape', async () => {
    await rawError(await raw(gw, '/v1/does-not-exist', { method: 'GET' }), { status: 404, type: 'invalid_request_error', code: 'not_found' });
    // The relay's endpoints are matched exactly, before Hono: no prefix, no inherited property names.
    for (const path of ['/v1/chat/completions/extra', '/v1/constructor', '/v1/__proto__']) {
      await rawError(await raw(gw, path, { method: 'POST', body: '{}' }), { status: 404, type: 'invalid_request_error', code: 'not_found' });
    }
  });

  it('a query string, or an absolute-form target, does not change the endpoint', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const res = await raw(gw, '/v1/chat/completions?trace=1', { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(gw.url);
      const req = http.request(
        { host: url.hostname, port: url.port, method: 'POST', path: `${gw.url}/v1/chat/completions`, headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' } },
        (r) => r.resume().on('end', () => resolve(r.statusCode!)),
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(200);
  });
});
