/**
 * CORS on /v1, so a browser app can call the gateway with a Lyss token: preflights answered, the ids readable,
 * any origin by default or only those LYSS_CORS_ORIGINS lists; the admin API gets none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { basicConfig, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';

const APP = 'https://app.example.com';
let upstream: MockUpstream;
let open: TestGateway;
let listed: TestGateway;

beforeAll(async () => {
  upstream = await startMockUpstream();
  open = await startGateway({ config: basicConfig(upstream.url) });
  listed = await startGateway({ config: basicConfig(upstream.url), env: { LYSS_CORS_ORIGINS: `${APP}, https://other.example.com` } });
});
afterAll(async () => {
  await open?.close();
  await listed?.close();
  await upstream?.close();
});

const preflight = (gw: TestGateway, origin: string, path = '/v1/chat/completions') =>
  request(`${gw.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-lyss-conversation-id' },
  });
const chat = (gw: TestGateway, origin: string) =>
  request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { origin, authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });

describe('CORS on /v1', () => {
  it('by default any origin: the preflight allows the method and the headers asked for', async () => {
    const res = await preflight(open, APP);
    await res.body.dump();
    expect(res.statusCode).toBe(204);
    expect(res.headers).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-headers': 'authorization, content-type, x-lyss-conversation-id',
      'access-control-max-age': '600',
    });
    expect(String(res.headers['access-control-allow-methods'])).toContain('POST');
    expect(res.headers.vary).toBe('Access-Control-Request-Headers');
  });

  it('the answers themselves, relayed or not, let the page read the ids', async () => {
    const res = await chat(open, APP);
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { object: string }).object).toBe('chat.completion');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(String(res.headers['access-control-expose-headers']).split(', ')).toEqual(expect.arrayContaining(['x-request-id', 'request-id', 'x-lyss-conversation-id', 'retry-after']));
    const models = await request(`${open.url}/v1/models`, { headers: { origin: APP, authorization: `Bearer ${TEST_TOKEN}` } });
    await models.body.dump();
    expect(models.statusCode).toBe(200);
    expect(models.headers['access-control-allow-origin']).toBe('*');
    // A refusal too: the page must be able to read why.
    const refused = await request(`${open.url}/v1/chat/completions`, { method: 'POST', headers: { origin: APP }, body: '{}' });
    await refused.body.dump();
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe('*');
  });

  it('LYSS_CORS_ORIGINS: a listed origin is named back (and caches told it varies), another gets nothing', async () => {
    const ok = await chat(listed, APP);
    await ok.body.dump();
    expect(ok.headers['access-control-allow-origin']).toBe(APP);
    expect(ok.headers.vary).toContain('Origin');
    const other = await preflight(listed, 'https://evil.example.com');
    await other.body.dump();
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers['access-control-allow-methods']).toBeUndefined();
    const otherChat = await chat(listed, 'https://evil.example.com');
    await otherChat.body.dump();
    expect(otherChat.headers['access-control-allow-origin']).toBeUndefined();
    // Without an Origin too: a shared cache must not serve that copy to a browser of a listed origin.
    const plain = await request(`${listed.url}/v1/models`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    await plain.body.dump();
    expect(plain.headers.vary).toContain('Origin');
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('no CORS headers without an Origin, nor on the admin API', async () => {
    const plain = await request(`${open.url}/v1/models`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    await plain.body.dump();
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    const admin = await preflight(open, APP, '/api/auth/login');
    await admin.body.dump();
    expect(admin.headers['access-control-allow-origin']).toBeUndefined();
  });
});
