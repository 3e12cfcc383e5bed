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
});
afterAll(() => stopAdminStack({ gw, upstream }));

const models = (token: string) => fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${token}` } });

describe('tenants (super admin)', () => {
  it('creates, gets, updates and lists with pagination', async () => {
    const created = [];
    for (let i = 0; i < 5; i++) {
      const r = await api.call('POST', '/tenants', { token: s.superAdmin.token, body: { slug: `t-${i}`, name: `Tenant ${i}`, max_users: 2 } });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ slug: `t-${i}`, status: 'active', subscription_plan: 'basic', max_users: 2, settings: {} });
      created.push(r.body.id);
    }
    const got = await api.call('GET', `/tenants/${created[0]}`, { token: s.superAdmin.token });
    expect(got.body).toMatchObject({ id: created[0], active_users: 0 });

    const upd = await api.call('PATCH', `/tenants/${created[0]}`, {
      token: s.superAdmin.token,
      body: { subscription_plan: 'pro', max_users: 3, settings: { store_content: false } },
    });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ subscription_plan: 'pro', max_users: 3, settings: { store_content: false } });

    // root, acme, globex + 5 created = 8.
    const p1 = await api.call('GET', '/tenants', { token: s.superAdmin.token, query: { per_page: 3 } });
    expect(p1.body).toMatchObject({ page: 1, per_page: 3, total: 8 });
    expect(p1.body.data).toHaveLength(3);
    const p3 = await api.call('GET', '/tenants', { token: s.superAdmin.token, query: { per_page: 3, page: 3 } });
    expect(p3.body.data).toHaveLength(2);
    const all = [...p1.body.data, ...(await api.call('GET', '/tenants', { token: s.superAdmin.token, query: { per_page: 3, page: 2 } })).body.data, ...p3.body.data];
    expect(new Set(all.map((t: { id: string }) => t.id)).size).toBe(8);
    const search = await api.call('GET', '/tenants', { token: s.superAdmin.token, query: { q: 't-3' } });
    expect(search.body.data.map((t: { slug: string }) => t.slug)).toEqual(['t-3']);
  });

  it('refuses a duplicate slug with 409 naming it', async () => {
    expectError(await api.call('POST', '/tenants', { token: s.superAdmin.token, body: { slug: 'acme', name: 'Again' } }), 409, 'conflict', 'slug');
  });

  it('sets up a new tenant through /tenants/{tenant_id}/..., enforcing max_users', async () => {
    const t = await api.call('POST', '/tenants', { token: s.superAdmin.token, body: { slug: 'fresh', name: 'Fresh', max_users: 2 } });
    const base = `/tenants/${t.body.id}`;
    const a = await api.call('POST', `${base}/users`, { token: s.superAdmin.token, body: { email: 'boss@fresh.test', password: PASSWORD, role: 'tenant_admin' } });
    expect(a.status).toBe(201);
    const b = await api.call('POST', `${base}/users`, { token: s.superAdmin.token, body: { email: 'dev@fresh.test', password: PASSWORD } });
    expect(b.status).toBe(201);
    expect(b.body.role).toBe('end_user');
    expectError(await api.call('POST', `${base}/users`, { token: s.superAdmin.token, body: { email: 'three@fresh.test', password: PASSWORD } }), 403, 'max_users_reached');

    // The new admin logs in and manages their own tenant.
    const boss = await api.login('fresh', 'boss@fresh.test');
    const users = await api.call('GET', '/users', { token: boss.access_token });
    expect(users.body.total).toBe(2);
    const tok = await api.call('POST', `${base}/tokens`, { token: s.superAdmin.token, body: { name: 'svc', user_id: b.body.id } });
    expect(tok.status).toBe(201);
    // A super admin acting for another tenant must name the owner: it is not one of that tenant's users.
    expectError(await api.call('POST', `${base}/tokens`, { token: s.superAdmin.token, body: { name: 'svc2' } }), 400, 'invalid_request_error', 'user_id');
  });

  it('suspending a tenant stops its tokens on the relay within a second, and its sessions and logins', async () => {
    expect((await models(ACME_TOKEN)).status).toBe(200);
    const r = await api.call('POST', `/tenants/${s.acmeAdmin.tenantId}/suspend`, { token: s.superAdmin.token });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('suspended');
    const started = Date.now();
    await eventually(async () => {
      const res = await models(ACME_TOKEN);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('tenant_suspended');
    }, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    expectError(await api.call('GET', '/users', { token: s.acmeAdmin.token }), 403, 'tenant_suspended');
    expectError(await api.call('POST', '/auth/login', { body: { tenant: 'acme', email: 'admin@acme.test', password: PASSWORD } }), 403, 'tenant_suspended');
    // Other tenants are untouched.
    expect((await api.call('GET', '/users', { token: s.globexAdmin.token })).status).toBe(200);

    const back = await api.call('POST', `/tenants/${s.acmeAdmin.tenantId}/activate`, { token: s.superAdmin.token });
    expect(back.body.status).toBe('active');
    await eventually(async () => expect((await models(ACME_TOKEN)).status).toBe(200), 1000);
    expect((await api.call('GET', '/users', { token: s.acmeAdmin.token })).status).toBe(200);
  });

  it('unknown tenant ids are 404', async () => {
    const ghost = crypto.randomUUID();
    expectError(await api.call('GET', `/tenants/${ghost}`, { token: s.superAdmin.token }), 404, 'not_found');
    expectError(await api.call('PATCH', `/tenants/${ghost}`, { token: s.superAdmin.token, body: { name: 'x' } }), 404, 'not_found');
    expectError(await api.call('POST', `/tenants/${ghost}/suspend`, { token: s.superAdmin.token }), 404, 'not_found');
    expectError(await api.call('GET', `/tenants/${ghost}/users`, { token: s.superAdmin.token }), 404, 'not_found', 'tenant_id');
  });
});
