import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { withTenant } from '../../../src/db/tenant.js';
import { providerChannels } from '../../../src/db/schema/index.js';
import { eventually, type TestGateway } from '../../helpers/gateway.js';
import type { MockUpstream } from '../../helpers/mock-upstream.js';
import { ACME_TOKEN, expectError, type Client, type Sessions, startAdminStack, stopAdminStack } from './helpers.js';

let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
let s: Sessions;
beforeAll(async () => {
  ({ upstream, gw, api, s } = await startAdminStack());
});
afterAll(() => stopAdminStack({ gw, upstream }));

const channelBody = (over: Record<string, unknown> = {}) => ({
  name: 'extra',
  type: 'openai',
  base_url: upstream.url,
  key: 'sk-test-secret-value-WXYZ',
  models: ['gpt-4.1-mini'],
  ...over,
});

const visibleModels = async (token: string) => {
  const res = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
};

describe('channels (admin)', () => {
  it('stores the key sealed and only ever shows a mask', async () => {
    const r = await api.call('POST', '/channels', { token: s.acmeAdmin.token, body: channelBody() });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'extra', type: 'openai', scope: 'tenant', status: 'enabled', key_masked: 'sk-...WXYZ', priority: 1, weight: 1, quota: -1 });
    expect(r.body).not.toHaveProperty('key');
    expect(JSON.stringify(r.body)).not.toContain('secret-value');
    const [row] = await withTenant(gw.deps.database.db, s.acmeAdmin.tenantId, (tx) =>
      tx.select({ key: providerChannels.key }).from(providerChannels).where(eq(providerChannels.id, r.body.id)),
    );
    expect(row!.key).toMatch(/^v1:/);
    expect(row!.key).not.toContain('secret-value');
    const list = await api.call('GET', '/channels', { token: s.acmeAdmin.token });
    expect(JSON.stringify(list.body)).not.toContain('secret-value');

    const rekey = await api.call('PATCH', `/channels/${r.body.id}`, { token: s.acmeAdmin.token, body: { key: 'sk-another-secret-ABCD' } });
    expect(rekey.body.key_masked).toBe('sk-...ABCD');
    // The relay sees the new model within a second (change notification).
    await eventually(async () => expect(await visibleModels(ACME_TOKEN)).toContain('gpt-4.1-mini'), 1000);
  });

  it('updates, lists with filters and pagination, disables and deletes', async () => {
    const t = s.acmeAdmin.token;
    const made = [];
    for (let i = 0; i < 4; i++) made.push((await api.call('POST', '/channels', { token: t, body: channelBody({ name: `pg-${i}`, models: [`m-${i}`] }) })).body);
    const upd = await api.call('PATCH', `/channels/${made[0].id}`, {
      token: t,
      body: { priority: 5, weight: 3, rate_limit: 10, quota: 1000, models: ['m-0', 'm-0b'], model_mapping: { 'm-0': 'm-0-2025' }, config: { note: 'x' } },
    });
    expect(upd.body).toMatchObject({ priority: 5, weight: 3, rate_limit: 10, quota: 1000, models: ['m-0', 'm-0b'], model_mapping: { 'm-0': 'm-0-2025' }, config: { note: 'x' } });

    const p1 = await api.call('GET', '/channels', { token: t, query: { q: 'pg-', per_page: 3 } });
    const p2 = await api.call('GET', '/channels', { token: t, query: { q: 'pg-', per_page: 3, page: 2 } });
    expect(p1.body.total).toBe(4);
    expect([...p1.body.data, ...p2.body.data].map((c: { name: string }) => c.name)).toEqual(['pg-0', 'pg-1', 'pg-2', 'pg-3']);
    expect((await api.call('GET', '/channels', { token: t, query: { scope: 'personal' } })).body.data.map((c: { name: string }) => c.name)).toEqual(['dev-personal']);
    expect((await api.call('GET', '/channels', { token: t, query: { scope: 'group' } })).body.total).toBe(1);

    expect(await visibleModels(ACME_TOKEN)).toContain('m-1');
    const off = await api.call('POST', `/channels/${made[1].id}/disable`, { token: t });
    expect(off.body).toMatchObject({ status: 'disabled', status_reason: 'disabled by admin@acme.test' });
    await eventually(async () => expect(await visibleModels(ACME_TOKEN)).not.toContain('m-1'), 1000);
    expect((await api.call('GET', '/channels', { token: t, query: { status: 'disabled' } })).body.data.map((c: { id: string }) => c.id)).toEqual([made[1].id]);
    const on = await api.call('POST', `/channels/${made[1].id}/enable`, { token: t });
    expect(on.body).toMatchObject({ status: 'enabled', status_reason: null });
    await eventually(async () => expect(await visibleModels(ACME_TOKEN)).toContain('m-1'), 1000);

    expect((await api.call('DELETE', `/channels/${made[2].id}`, { token: t })).status).toBe(204);
    expectError(await api.call('GET', `/channels/${made[2].id}`, { token: t }), 404, 'not_found');
    await eventually(async () => expect(await visibleModels(ACME_TOKEN)).not.toContain('m-2'), 1000);
  });

  it('places channels in group and personal scope, checking the owner and group', async () => {
    const t = s.acmeAdmin.token;
    const groups = await api.call('GET', '/groups', { token: t });
    const groupId = groups.body.data[0].id;
    const g = await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'grp', scope: 'group', group_id: groupId }) });
    expect(g.body).toMatchObject({ scope: 'group', group_id: groupId, owner_id: null });
    expectError(await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'grp2', scope: 'group' }) }), 400, 'invalid_request_error', 'group_id');
    const p = await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'for-other', scope: 'personal', owner_id: s.acmeOther.userId }) });
    expect(p.body).toMatchObject({ scope: 'personal', owner_id: s.acmeOther.userId });
    // Moving to tenant scope drops the owner.
    const moved = await api.call('PATCH', `/channels/${p.body.id}`, { token: t, body: { scope: 'tenant' } });
    expect(moved.body).toMatchObject({ scope: 'tenant', owner_id: null, group_id: null });
    expectError(await api.call('PATCH', `/channels/${p.body.id}`, { token: t, body: { scope: 'group' } }), 400, 'invalid_request_error', 'group_id');
    expectError(await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'tn', scope: 'tenant', owner_id: s.acmeOther.userId }) }), 400, 'invalid_request_error', 'owner_id');
    expectError(await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'main' }) }), 409, 'conflict', 'name');
    expectError(await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'az', type: 'azure-openai', base_url: null }) }), 400, 'invalid_request_error', 'base_url');
    expectError(await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'x', type: 'nope' }) }), 400, 'invalid_request_error', 'type');
  });
});

describe('channels (end user)', () => {
  it('creates personal channels for themselves and sees only their own', async () => {
    const t = s.acmeOther.token;
    const r = await api.call('POST', '/channels', { token: t, body: channelBody({ name: 'mine' }) });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ scope: 'personal', owner_id: s.acmeOther.userId });
    const list = await api.call('GET', '/channels', { token: t });
    expect(list.body.data.map((c: { name: string }) => c.name)).toEqual(['mine']);
    const upd = await api.call('PATCH', `/channels/${r.body.id}`, { token: t, body: { priority: 3, key: 'sk-my-new-key-value-QQQQ' } });
    expect(upd.body).toMatchObject({ priority: 3, key_masked: 'sk-...QQQQ' });
    expect((await api.call('POST', `/channels/${r.body.id}/disable`, { token: t })).body.status).toBe('disabled');
    expect((await api.call('DELETE', `/channels/${r.body.id}`, { token: t })).status).toBe(204);
  });
});

describe('POST /channels/{id}/test', () => {
  it('sends a one-token completion to the first (mapped) model and reports status and latency', async () => {
    const c = await api.call('POST', '/channels', {
      token: s.acmeAdmin.token,
      body: channelBody({ name: 'probe', models: ['alias', 'other'], model_mapping: { alias: 'real-model' }, key: 'sk-probe-key-000000001' }),
    });
    upstream.requests.length = 0;
    const r = await api.call('POST', `/channels/${c.body.id}/test`, { token: s.acmeAdmin.token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, status: 200, model: 'real-model' });
    expect(r.body.latency_ms).toBeGreaterThanOrEqual(0);
    expect(upstream.requests).toHaveLength(1);
    const sent = upstream.requests[0]!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer sk-probe-key-000000001');
    expect(sent.body).toMatchObject({ model: 'real-model', max_tokens: 1 });
  });

  it('reports an upstream refusal in its own words, never echoing the upstream body', async () => {
    const c = await api.call('POST', '/channels', { token: s.acmeAdmin.token, body: channelBody({ name: 'refused' }) });
    upstream.script(() => ({ kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided: sk-test-***WXYZ (upstream secret detail)' } } }));
    try {
      const r = await api.call('POST', `/channels/${c.body.id}/test`, { token: s.acmeAdmin.token });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ ok: false, status: 401, message: 'The upstream rejected the key (HTTP 401).' });
      expect(JSON.stringify(r.body)).not.toContain('upstream secret detail');
    } finally {
      upstream.script(null);
    }
  });

  it('reports an unreachable upstream without a status', async () => {
    const c = await api.call('POST', '/channels', { token: s.acmeAdmin.token, body: channelBody({ name: 'dead', base_url: 'http://127.0.0.1:9' }) });
    const r = await api.call('POST', `/channels/${c.body.id}/test`, { token: s.acmeAdmin.token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: false, status: null });
    expect(r.body.message).toMatch(/Could not reach the upstream/);
  });

  it('speaks Anthropic and Azure wire formats', async () => {
    const a = await api.call('POST', '/channels', {
      token: s.acmeAdmin.token,
      body: channelBody({ name: 'claude', type: 'anthropic', models: ['claude-haiku'], key: 'sk-ant-key-000000000001' }),
    });
    const z = await api.call('POST', '/channels', {
      token: s.acmeAdmin.token,
      body: channelBody({ name: 'azure', type: 'azure-openai', models: ['gpt-4o'], model_mapping: { 'gpt-4o': 'my-deploy' }, key: 'azure-key-0000000000001' }),
    });
    upstream.requests.length = 0;
    await api.call('POST', `/channels/${a.body.id}/test`, { token: s.acmeAdmin.token });
    await api.call('POST', `/channels/${z.body.id}/test`, { token: s.acmeAdmin.token });
    const [anthropic, azure] = upstream.requests;
    expect(anthropic!.path).toBe('/v1/messages');
    expect(anthropic!.headers['x-api-key']).toBe('sk-ant-key-000000000001');
    expect(anthropic!.headers['anthropic-version']).toBe('2023-06-01');
    expect(anthropic!.body).toMatchObject({ model: 'claude-haiku', max_tokens: 1 });
    expect(azure!.path).toBe('/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21');
    expect(azure!.headers['api-key']).toBe('azure-key-0000000000001');
  });
});
