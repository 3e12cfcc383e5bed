import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestGateway } from '../../helpers/gateway.js';
import type { MockUpstream } from '../../helpers/mock-upstream.js';
import { expectError, PASSWORD, type ApiResponse, type Client, type Sessions, startAdminStack, stopAdminStack } from './helpers.js';

let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
let s: Sessions;
let groupId: string;
let channelId: string;
let tokenId: string;
beforeAll(async () => {
  ({ upstream, gw, api, s } = await startAdminStack());
  groupId = (await api.call('GET', '/groups', { token: s.acmeAdmin.token })).body.data[0].id;
  channelId = (await api.call('GET', '/channels', { token: s.acmeAdmin.token, query: { q: 'main' } })).body.data[0].id;
  tokenId = (await api.call('GET', '/tokens', { token: s.acmeAdmin.token })).body.data[0].id;
});
afterAll(() => stopAdminStack({ gw, upstream }));

const channel = { name: 'valid', type: 'openai', key: 'sk-valid-key-0000000', models: ['m'] };

/** A 400 whose param names the field and whose message starts with it. */
function expectField(r: ApiResponse, param: string): void {
  expectError(r, 400, 'invalid_request_error', param);
  expect(r.body.error.message.startsWith(`${param}:`)).toBe(true);
}

describe('bad input is a 400 naming the field', () => {
  it('wrong types', async () => {
    const t = s.acmeAdmin.token;
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, name: 123 } }), 'name');
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, models: 'm' } }), 'models');
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, priority: '1' } }), 'priority');
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, quota: 1.5 } }), 'quota');
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, model_mapping: { a: 1 } } }), 'model_mapping.a');
    expectField(await api.call('POST', '/tokens', { token: t, body: { name: 'x', expires_at: 'tomorrow' } }), 'expires_at');
    expectField(await api.call('PATCH', `/tokens/${tokenId}`, { token: t, body: { status: 'expired' } }), 'status');
    expectField(await api.call('POST', '/users', { token: t, body: { email: 'a@acme.test', password: PASSWORD, role: 'root' } }), 'role');
    expectField(await api.call('PATCH', `/tenants/${s.acmeAdmin.tenantId}`, { token: s.superAdmin.token, body: { max_users: 0 } }), 'max_users');
    expectField(await api.call('PATCH', `/tenants/${s.acmeAdmin.tenantId}`, { token: s.superAdmin.token, body: { settings: { store_content: 'no' } } }), 'settings.store_content');
  });

  it('a NUL character in any text, body or query: a 400 naming the field, never a 500', async () => {
    const t = s.acmeAdmin.token;
    expectField(await api.call('POST', '/groups', { token: t, body: { name: 'g\u0000' } }), 'name');
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, models: ['ok', 'm\u0000'] } }), 'models[1]');
    expectField(await api.call('POST', '/tokens', { token: t, body: { name: 'x', allowed_models: ['\u0000'] } }), 'allowed_models[0]');
    expectField(await api.call('PATCH', '/auth/me', { token: s.acmeDev.token, body: { full_name: 'a\u0000' } }), 'full_name');
    expectField(await api.call('POST', '/users', { token: t, body: { email: 'n@acme.test', password: PASSWORD, full_name: 'N\u0000' } }), 'full_name');
    expectField(await api.call('GET', '/users', { token: t, query: { q: '\u0000' } }), 'q');
    expectField(await api.call('GET', '/usage', { token: t, query: { group_by: 'model', model: 'a\u0000' } }), 'model');
  });

  it('an avatar_url is an http(s) or data:image URL, never a script', async () => {
    expectField(await api.call('PATCH', '/auth/me', { token: s.acmeDev.token, body: { avatar_url: 'javascript:alert(1)' } }), 'avatar_url');
    expectField(await api.call('PATCH', '/auth/me', { token: s.acmeDev.token, body: { avatar_url: 'data:text/html,<script>alert(1)</script>' } }), 'avatar_url');
    for (const ok of ['https://cdn.example.com/a.png', 'data:image/png;base64,iVBORw0KGgo=', '']) {
      expect((await api.call('PATCH', '/auth/me', { token: s.acmeDev.token, body: { avatar_url: ok } })).status).toBe(200);
    }
  });

  it('missing required fields', async () => {
    expectField(await api.call('POST', '/channels', { token: s.acmeAdmin.token, body: { name: 'x', type: 'openai', models: ['m'] } }), 'key');
    expectField(await api.call('POST', '/users', { token: s.acmeAdmin.token, body: { email: 'b@acme.test' } }), 'password');
    expectField(await api.call('POST', '/groups/' + groupId + '/members', { token: s.acmeAdmin.token, body: {} }), 'user_id');
  });

  it('unknown fields, including fields that exist but are not writable', async () => {
    expectField(await api.call('POST', '/users', { token: s.acmeAdmin.token, body: { email: 'c@acme.test', password: PASSWORD, is_admin: true } }), 'is_admin');
    expectField(await api.call('PATCH', `/tokens/${tokenId}`, { token: s.acmeAdmin.token, body: { key: 'lyss-chosen-by-me-0000000000000000' } }), 'key');
    expectField(await api.call('PATCH', `/tokens/${tokenId}`, { token: s.acmeAdmin.token, body: { used_quota: 0 } }), 'used_quota');
    expectField(await api.call('PATCH', `/channels/${channelId}`, { token: s.acmeAdmin.token, body: { used_quota: 0 } }), 'used_quota');
    expectField(await api.call('PATCH', '/auth/me', { token: s.acmeDev.token, body: { role: 'tenant_admin' } }), 'role');
    expectField(await api.call('PATCH', '/auth/me', { token: s.acmeDev.token, body: { status: 'active' } }), 'status');
    expectField(await api.call('POST', '/tenants', { token: s.superAdmin.token, body: { slug: 'zz', name: 'Z', settings: { anything: 1 } } }), 'settings.anything');
    expectField(await api.call('GET', '/users', { token: s.acmeAdmin.token, query: { sort: 'email' } }), 'sort');
  });

  it('oversized strings and lists', async () => {
    const t = s.acmeAdmin.token;
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, name: 'n'.repeat(101) } }), 'name');
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, models: ['m'.repeat(201)] } }), 'models[0]');
    expectField(await api.call('POST', '/channels', { token: t, body: { ...channel, key: 'k'.repeat(8193) } }), 'key');
    expectField(await api.call('POST', '/groups', { token: t, body: { name: 'g'.repeat(101) } }), 'name');
    expectField(await api.call('POST', '/users', { token: t, body: { email: `${'e'.repeat(250)}@acme.test`, password: PASSWORD } }), 'email');
    expectField(await api.call('POST', '/tokens', { token: t, body: { name: 'x', allowed_models: Array.from({ length: 1001 }, (_, i) => `m${i}`) } }), 'allowed_models');
    expectField(await api.call('GET', '/users', { token: t, query: { per_page: 1000 } }), 'per_page');
    expectField(await api.call('GET', '/users', { token: t, query: { page: 0 } }), 'page');
    for (const per_page of ['0x10', '1e1', ' 16', '', '16.0']) {
      const r = await api.call('GET', '/users', { token: t, query: { per_page } });
      expectField(r, 'per_page');
      expect(r.body.error.message).toBe('per_page: must be an integer');
    }
    const far = await api.call('POST', '/channels', { token: t, body: { ...channel, weight: 1e20 } });
    expectField(far, 'weight');
    expect(far.body.error.message).toBe('weight: must be at most 2147483647');
    const huge = await api.call('POST', '/groups', { token: t, raw: JSON.stringify({ name: 'x', description: 'd'.repeat(2 * 1024 * 1024) }) });
    expectError(huge, 413, 'request_too_large');
  });

  it('invalid UUIDs in the path, the query and the body', async () => {
    const t = s.acmeAdmin.token;
    expectField(await api.call('GET', '/users/not-a-uuid', { token: t }), 'id');
    expectField(await api.call('DELETE', "/tokens/1'%20or%201=1", { token: t }), 'id');
    expectField(await api.call('GET', '/tenants/nope/users', { token: t }), 'tenant_id');
    expectField(await api.call('GET', '/tokens', { token: t, query: { user_id: 'abc' } }), 'user_id');
    expectField(await api.call('POST', `/groups/${groupId}/members`, { token: t, body: { user_id: 'abc' } }), 'user_id');
    expectField(await api.call('POST', '/tokens', { token: t, body: { name: 'x', allowed_channels: [channelId, 'zzz'] } }), 'allowed_channels[1]');
    expectField(await api.call('DELETE', `/groups/${groupId}/members/xyz`, { token: t }), 'user_id');
  });

  it('malformed or empty JSON', async () => {
    expectError(await api.call('POST', '/groups', { token: s.acmeAdmin.token, raw: '{"name": "x"' }), 400, 'invalid_json');
    expectError(await api.call('POST', '/groups', { token: s.acmeAdmin.token }), 400, 'invalid_json');
    expectError(await api.call('POST', '/groups', { token: s.acmeAdmin.token, body: 'a string' }), 400, 'invalid_request_error');
  });
});

describe('nothing half-written', () => {
  const counts = async () => {
    const t = s.acmeAdmin.token;
    const get = async (p: string) => (await api.call('GET', p, { token: t })).body.total as number;
    return { channels: await get('/channels'), tokens: await get('/tokens'), users: await get('/users'), groups: await get('/groups') };
  };

  it('refused creates and updates leave every row as it was', async () => {
    const t = s.acmeAdmin.token;
    const before = await counts();
    const ghost = crypto.randomUUID();
    expectError(await api.call('POST', '/channels', { token: t, body: { ...channel, name: 'half', scope: 'group', group_id: ghost } }), 404, 'not_found', 'group_id');
    expectError(await api.call('POST', '/tokens', { token: t, body: { name: 'half', allowed_channels: [channelId, ghost] } }), 404, 'not_found', 'allowed_channels[1]');
    expectError(await api.call('POST', '/tokens', { token: t, body: { name: 'half', user_id: ghost } }), 404, 'not_found', 'user_id');
    expectError(await api.call('POST', `/groups/${groupId}/members`, { token: t, body: { user_id: ghost } }), 404, 'not_found', 'user_id');

    const ch = (await api.call('GET', `/channels/${channelId}`, { token: t })).body;
    // A valid rename with an invalid placement: the rename must not land either.
    expectError(await api.call('PATCH', `/channels/${channelId}`, { token: t, body: { name: 'renamed', scope: 'group', group_id: ghost } }), 404);
    expectError(await api.call('PATCH', `/channels/${channelId}`, { token: t, body: { name: 'renamed', priority: 'high' } }), 400);
    expect((await api.call('GET', `/channels/${channelId}`, { token: t })).body).toEqual(ch);

    const dev = (await api.call('GET', `/users/${s.acmeDev.userId}`, { token: t })).body;
    expectError(await api.call('PATCH', `/users/${s.acmeDev.userId}`, { token: t, body: { full_name: 'Changed', email: 'admin@acme.test' } }), 409, 'conflict', 'email');
    expect((await api.call('GET', `/users/${s.acmeDev.userId}`, { token: t })).body).toEqual(dev);

    expect(await counts()).toEqual(before);
    expect((await api.call('GET', `/groups/${groupId}/members`, { token: t })).body.total).toBe(1);
  });
});
