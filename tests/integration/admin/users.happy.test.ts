import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type TestGateway } from '../../helpers/gateway.js';
import type { MockUpstream } from '../../helpers/mock-upstream.js';
import { ACME_TOKEN, expectError, PASSWORD, type Client, type Sessions, startAdminStack, stopAdminStack } from './helpers.js';

let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
let s: Sessions;
beforeAll(async () => {
  ({ upstream, gw, api, s } = await startAdminStack());
  // Room for the users these tests add.
  await api.call('PATCH', `/tenants/${s.acmeAdmin.tenantId}`, { token: s.superAdmin.token, body: { max_users: 30 } });
});
afterAll(() => stopAdminStack({ gw, upstream }));

describe('users', () => {
  it('creates, gets, updates and lists with pagination and filters', async () => {
    const t = s.acmeAdmin.token;
    const created = await api.call('POST', '/users', {
      token: t,
      body: { email: 'New.Person@Acme.test', password: PASSWORD, role: 'tenant_admin', full_name: 'New Person', username: 'newp' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'new.person@acme.test', role: 'tenant_admin', status: 'active', full_name: 'New Person', username: 'newp' });
    expect(created.body).not.toHaveProperty('password');
    expect(created.body).not.toHaveProperty('hashed_password');

    const got = await api.call('GET', `/users/${created.body.id}`, { token: t });
    expect(got.body).toEqual(created.body);

    const upd = await api.call('PATCH', `/users/${created.body.id}`, { token: t, body: { role: 'end_user', full_name: null } });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ role: 'end_user', full_name: null, username: 'newp' });

    for (let i = 0; i < 12; i++) {
      expect((await api.call('POST', '/users', { token: t, body: { email: `bulk${i}@acme.test`, password: PASSWORD } })).status).toBe(201);
    }
    // 3 seeded + 1 + 12 = 16
    const pages = [];
    for (let page = 1; page <= 4; page++) pages.push((await api.call('GET', '/users', { token: t, query: { page, per_page: 5 } })).body);
    expect(pages.map((p) => p.data.length)).toEqual([5, 5, 5, 1]);
    expect(pages[0].total).toBe(16);
    expect(new Set(pages.flatMap((p) => p.data.map((u: { id: string }) => u.id))).size).toBe(16);

    const admins = await api.call('GET', '/users', { token: t, query: { role: 'tenant_admin' } });
    expect(admins.body.data.map((u: { email: string }) => u.email)).toEqual(['admin@acme.test']);
    const search = await api.call('GET', '/users', { token: t, query: { q: 'bulk1' } });
    expect(search.body.total).toBe(3); // bulk1, bulk10, bulk11
  });

  it('refuses a duplicate email in any letter case with 409', async () => {
    expectError(await api.call('POST', '/users', { token: s.acmeAdmin.token, body: { email: 'DEV@acme.test', password: PASSWORD } }), 409, 'conflict', 'email');
    // The same email in another tenant is another user.
    expect((await api.call('POST', '/users', { token: s.globexAdmin.token, body: { email: 'new.person@acme.test', password: PASSWORD } })).status).toBe(201);
  });

  it('deactivating a user ends their sessions and stops their tokens on the relay within a second', async () => {
    const dev = await api.login('acme', 'dev@acme.test');
    const ok = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${ACME_TOKEN}` } });
    expect(ok.status).toBe(200);
    const r = await api.call('POST', `/users/${s.acmeDev.userId}/deactivate`, { token: s.acmeAdmin.token });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('inactive');
    expectError(await api.call('GET', '/auth/me', { token: dev.access_token }), 401);
    await eventually(async () => {
      const res = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${ACME_TOKEN}` } });
      expect(res.status).toBe(401);
    }, 1000);
    const back = await api.call('POST', `/users/${s.acmeDev.userId}/activate`, { token: s.acmeAdmin.token });
    expect(back.body.status).toBe('active');
    await eventually(async () => {
      expect((await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${ACME_TOKEN}` } })).status).toBe(200);
    }, 1000);
  });

  it('an admin password reset signs the user out and sets the new password', async () => {
    const other = await api.login('acme', 'other@acme.test');
    const r = await api.call('PATCH', `/users/${s.acmeOther.userId}`, { token: s.acmeAdmin.token, body: { password: 'reset by the admin' } });
    expect(r.status).toBe(200);
    expectError(await api.call('GET', '/auth/me', { token: other.access_token }), 401);
    await api.login('acme', 'other@acme.test', 'reset by the admin');
  });

  it('max_users counts active users: deactivating frees a seat', async () => {
    const t = await api.call('POST', '/tenants', { token: s.superAdmin.token, body: { slug: 'tiny', name: 'Tiny', max_users: 1 } });
    const base = `/tenants/${t.body.id}/users`;
    const one = await api.call('POST', base, { token: s.superAdmin.token, body: { email: 'one@tiny.test', password: PASSWORD } });
    expectError(await api.call('POST', base, { token: s.superAdmin.token, body: { email: 'two@tiny.test', password: PASSWORD } }), 403, 'max_users_reached');
    await api.call('POST', `${base}/${one.body.id}/deactivate`, { token: s.superAdmin.token });
    const two = await api.call('POST', base, { token: s.superAdmin.token, body: { email: 'two@tiny.test', password: PASSWORD } });
    expect(two.status).toBe(201);
    expectError(await api.call('POST', `${base}/${one.body.id}/activate`, { token: s.superAdmin.token }), 403, 'max_users_reached');
  });

  it('concurrent creates never exceed max_users', async () => {
    const t = await api.call('POST', '/tenants', { token: s.superAdmin.token, body: { slug: 'race', name: 'Race', max_users: 3 } });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api.call('POST', `/tenants/${t.body.id}/users`, { token: s.superAdmin.token, body: { email: `u${i}@race.test`, password: PASSWORD } }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    for (const r of results.filter((x) => x.status !== 201)) expectError(r, 403, 'max_users_reached');
  });
});
