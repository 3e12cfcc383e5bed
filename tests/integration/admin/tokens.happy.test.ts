import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../../src/db/tenant.js';
import { createToken } from '../../../src/admin/tokens/service.js';
import { providerTokens } from '../../../src/db/schema/index.js';
import { sha256Hex } from '../../../src/crypto/digest.js';
import { eventually, type TestGateway } from '../../helpers/gateway.js';
import type { MockUpstream } from '../../helpers/mock-upstream.js';
import { expectError, type Client, type Sessions, startAdminStack, stopAdminStack } from './helpers.js';

let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
let s: Sessions;
beforeAll(async () => {
  ({ upstream, gw, api, s } = await startAdminStack());
});
afterAll(() => stopAdminStack({ gw, upstream }));

const models = (token: string) => fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${token}` } });

describe('tokens', () => {
  it('returns the full token once; lists and gets show the prefix only; only the digest is stored', async () => {
    const r = await api.call('POST', '/tokens', { token: s.acmeDev.token, body: { name: 'laptop' } });
    expect(r.status).toBe(201);
    expect(r.body.key).toMatch(/^lyss-/);
    expect(r.body).toMatchObject({ name: 'laptop', user_id: s.acmeDev.userId, status: 'enabled', key_prefix: r.body.key.slice(0, 12), quota: -1, rate_limit: 60 });
    const got = await api.call('GET', `/tokens/${r.body.id}`, { token: s.acmeDev.token });
    expect(got.body).not.toHaveProperty('key');
    const list = await api.call('GET', '/tokens', { token: s.acmeDev.token });
    expect(JSON.stringify(list.body)).not.toContain(r.body.key);
    const stored = await withTenant(gw.deps.database.db, s.acmeDev.tenantId, (tx) => tx.select({ key: providerTokens.key }).from(providerTokens));
    expect(stored.map((x) => x.key)).toContain(sha256Hex(r.body.key));
    expect(JSON.stringify(stored)).not.toContain(r.body.key);
    // It works on the relay straight away.
    expect((await models(r.body.key)).status).toBe(200);
  });

  it('a token disabled through the admin API stops working on the relay within a second', async () => {
    const r = await api.call('POST', '/tokens', { token: s.acmeAdmin.token, body: { name: 'svc', user_id: s.acmeOther.userId } });
    expect((await models(r.body.key)).status).toBe(200); // cached now
    const started = Date.now();
    const off = await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeAdmin.token, body: { status: 'disabled' } });
    expect(off.body.status).toBe('disabled');
    await eventually(async () => expect((await models(r.body.key)).status).toBe(401), 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeAdmin.token, body: { status: 'enabled' } });
    await eventually(async () => expect((await models(r.body.key)).status).toBe(200), 1000);
    expect((await api.call('DELETE', `/tokens/${r.body.id}`, { token: s.acmeAdmin.token })).status).toBe(204);
    await eventually(async () => expect((await models(r.body.key)).status).toBe(401), 1000);
  });

  it('updates allowed models and channels, limits and expiry; the relay follows', async () => {
    const r = await api.call('POST', '/tokens', { token: s.acmeAdmin.token, body: { name: 'limited', user_id: s.acmeDev.userId } });
    const channels = await api.call('GET', '/channels', { token: s.acmeAdmin.token, query: { q: 'main' } });
    const upd = await api.call('PATCH', `/tokens/${r.body.id}`, {
      token: s.acmeAdmin.token,
      body: { allowed_models: ['gpt-4o-mini'], allowed_channels: [channels.body.data[0].id], quota: 5000, rate_limit: 7, expires_at: '2099-01-01T00:00:00Z' },
    });
    expect(upd.body).toMatchObject({ allowed_models: ['gpt-4o-mini'], allowed_channels: [channels.body.data[0].id], quota: 5000, rate_limit: 7, expires_at: '2099-01-01T00:00:00.000Z' });
    const past = await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeAdmin.token, body: { expires_at: '2000-01-01T00:00:00Z' } });
    await eventually(async () => expect((await models(r.body.key)).status).toBe(401), 1000);
    // Past its date the token is shown, and found, as expired; no longer among the enabled ones.
    expect(past.body.status).toBe('expired');
    expect((await api.call('GET', `/tokens/${r.body.id}`, { token: s.acmeAdmin.token })).body.status).toBe('expired');
    const ids = async (status: string) => (await api.call('GET', '/tokens', { token: s.acmeAdmin.token, query: { status, per_page: 100 } })).body.data.map((t: { id: string }) => t.id);
    expect(await ids('expired')).toContain(r.body.id);
    expect(await ids('enabled')).not.toContain(r.body.id);
    const ci = (await api.call('GET', '/tokens', { token: s.acmeAdmin.token, query: { q: 'ci' } })).body.data[0];
    expect(ci).toMatchObject({ name: 'ci', expires_at: null, status: 'enabled' });
    expect(await ids('enabled')).toContain(ci.id);
  });

  it('names stay unique per user when creates race: the second waits for the first and is refused', async () => {
    const db = gw.deps.database.db;
    const actor = { sessionId: 'test', userId: s.acmeOther.userId, tenantId: s.acmeOther.tenantId, role: 'end_user' as const, email: 'other@acme.test' };
    const input = { name: 'racy', allowed_models: [], allowed_channels: [], expires_at: null };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let firstCreated!: () => void;
    const created = new Promise<void>((r) => (firstCreated = r));
    const first = withTenant(db, actor.tenantId, async (tx) => {
      await createToken(tx, actor, actor.tenantId, input);
      firstCreated();
      await gate; // holds its transaction open, the row written but not committed
    });
    await created;
    let secondDone = false;
    const second = withTenant(db, actor.tenantId, (tx) => createToken(tx, actor, actor.tenantId, input)).finally(() => (secondDone = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(secondDone).toBe(false);
    release();
    await first;
    await expect(second).rejects.toMatchObject({ status: 409 });
    expect((await api.call('GET', '/tokens', { token: s.acmeOther.token, query: { q: 'racy' } })).body.total).toBe(1);
  });

  it('lists with pagination and filters; names are unique per user', async () => {
    for (let i = 0; i < 7; i++) await api.call('POST', '/tokens', { token: s.globexDev.token, body: { name: `t${i}` } });
    const p1 = await api.call('GET', '/tokens', { token: s.globexDev.token, query: { per_page: 5 } });
    const p2 = await api.call('GET', '/tokens', { token: s.globexDev.token, query: { per_page: 5, page: 2 } });
    expect(p1.body.total).toBe(8); // 7 + the seeded "ci"
    expect(p1.body.data).toHaveLength(5);
    expect(p2.body.data).toHaveLength(3);
    expectError(await api.call('POST', '/tokens', { token: s.globexDev.token, body: { name: 't1' } }), 409, 'conflict', 'name');
    const byUser = await api.call('GET', '/tokens', { token: s.globexAdmin.token, query: { user_id: s.globexDev.userId, q: 't' } });
    expect(byUser.body.total).toBe(7); // t0..t6, not "ci"
    const theirs = await api.call('GET', '/tokens', { token: s.globexAdmin.token, query: { user_id: s.globexAdmin.userId } });
    expect(theirs.body.total).toBe(0);
  });

  it('end users disable their own tokens but cannot re-enable one, raise limits or touch others', async () => {
    const r = await api.call('POST', '/tokens', { token: s.acmeDev.token, body: { name: 'mine', allowed_models: ['gpt-4o-mini'] } });
    expectError(await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeDev.token, body: { quota: -1 } }), 403, 'forbidden', 'quota');
    expectError(await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeDev.token, body: { rate_limit: 100000 } }), 403, 'forbidden', 'rate_limit');
    expect((await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeDev.token, body: { status: 'disabled', name: 'mine-off' } })).body).toMatchObject({ status: 'disabled', name: 'mine-off' });
    expectError(await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeDev.token, body: { status: 'enabled' } }), 403, 'forbidden', 'status');
    expectError(await api.call('POST', '/tokens', { token: s.acmeDev.token, body: { name: 'x', quota: 10 } }), 403, 'forbidden', 'quota');
    expectError(await api.call('POST', '/tokens', { token: s.acmeDev.token, body: { name: 'x', user_id: s.acmeOther.userId } }), 403, 'forbidden', 'user_id');
    expect((await api.call('DELETE', `/tokens/${r.body.id}`, { token: s.acmeDev.token })).status).toBe(204);
  });

  it('end users may set or shorten an expiry, never lift or extend one', async () => {
    const r = await api.call('POST', '/tokens', { token: s.acmeDev.token, body: { name: 'expiring', expires_at: '2090-01-01T00:00:00Z' } });
    expect(r.body.expires_at).toBe('2090-01-01T00:00:00.000Z');
    expectError(await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeDev.token, body: { expires_at: null } }), 403, 'forbidden', 'expires_at');
    expectError(await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeDev.token, body: { expires_at: '2095-01-01T00:00:00Z' } }), 403, 'forbidden', 'expires_at');
    expect((await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeDev.token, body: { expires_at: '2080-01-01T00:00:00Z' } })).body.expires_at).toBe('2080-01-01T00:00:00.000Z');
    expect((await api.call('PATCH', `/tokens/${r.body.id}`, { token: s.acmeAdmin.token, body: { expires_at: null } })).body.expires_at).toBeNull();
  });
});
