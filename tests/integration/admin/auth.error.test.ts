import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { withTenant } from '../../../src/db/tenant.js';
import { authUsers } from '../../../src/db/schema/index.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { ACME_TOKEN, adminConfig, client, expectError, PASSWORD, type Client } from './helpers.js';

const LOCK_MS = 1500;
let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({ config: adminConfig(upstream.url), env: { LYSS_LOGIN_MAX_ATTEMPTS: '3', LYSS_LOGIN_LOCK_MS: String(LOCK_MS) } });
  api = client(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const attempt = (tenant: string, email: string, password: string) => api.call('POST', '/auth/login', { body: { tenant, email, password } });

describe('lockout', () => {
  it('locks after N failures and answers exactly as for an unknown email or tenant', async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await attempt('acme', 'dev@acme.test', 'wrong password here'));
    // Locked now: even the right password is refused, with the same answer.
    answers.push(await attempt('acme', 'dev@acme.test', PASSWORD));
    for (let i = 0; i < 4; i++) answers.push(await attempt('acme', 'nobody@acme.test', 'wrong password here'));
    answers.push(await attempt('no-such-tenant', 'dev@acme.test', PASSWORD));
    answers.push(await attempt('globex', 'dev@acme.test', PASSWORD));
    for (const a of answers) expectError(a, 401, 'invalid_credentials', null);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);

    const admin = await api.login('acme', 'admin@acme.test');
    const users = await api.call('GET', '/users', { token: admin.access_token, query: { q: 'dev@acme.test' } });
    expect(users.body.data[0].locked_until).not.toBeNull();

    await sleep(LOCK_MS + 100);
    expect((await attempt('acme', 'dev@acme.test', PASSWORD)).status).toBe(200);
  });

  it('a success resets the failure count', async () => {
    await attempt('globex', 'dev@globex.test', 'wrong password here');
    await attempt('globex', 'dev@globex.test', 'wrong password here');
    expect((await attempt('globex', 'dev@globex.test', PASSWORD)).status).toBe(200);
    await attempt('globex', 'dev@globex.test', 'wrong password here');
    await attempt('globex', 'dev@globex.test', 'wrong password here');
    expect((await attempt('globex', 'dev@globex.test', PASSWORD)).status).toBe(200);
  });

  it('concurrent failures all count', async () => {
    await Promise.all(Array.from({ length: 6 }, () => attempt('globex', 'other@globex.test', 'wrong password here')));
    expectError(await attempt('globex', 'other@globex.test', PASSWORD), 401, 'invalid_credentials');
  });

  it('an admin reactivating the user lifts the lock at once', async () => {
    for (let i = 0; i < 3; i++) await attempt('acme', 'other@acme.test', 'wrong password here');
    expectError(await attempt('acme', 'other@acme.test', PASSWORD), 401);
    const admin = await api.login('acme', 'admin@acme.test');
    const users = await api.call('GET', '/users', { token: admin.access_token, query: { q: 'other@acme.test' } });
    const r = await api.call('POST', `/users/${users.body.data[0].id}/activate`, { token: admin.access_token });
    expect(r.status).toBe(200);
    expect(r.body.locked_until).toBeNull();
    expect((await attempt('acme', 'other@acme.test', PASSWORD)).status).toBe(200);
  });
});

describe('sessions refused', () => {
  it('no token, a malformed header, a random token or a relay token: 401 JSON', async () => {
    expectError(await api.call('GET', '/auth/me'), 401, 'invalid_session');
    expectError(await api.call('GET', '/auth/me', { headers: { authorization: 'Basic abc' } }), 401, 'invalid_session');
    expectError(await api.call('GET', '/auth/me', { token: 'lyss_at_' + 'x'.repeat(43) }), 401, 'invalid_session');
    expectError(await api.call('GET', '/users', { token: ACME_TOKEN }), 401, 'invalid_session');
  });

  it('a refresh token is not an access token, nor the reverse', async () => {
    const s = await api.login('acme', 'admin@acme.test');
    expectError(await api.call('GET', '/auth/me', { token: s.refresh_token }), 401);
    expectError(await api.call('POST', '/auth/refresh', { body: { refresh_token: s.access_token } }), 401);
  });

  it('a deactivated account with the right password gets 403, not a session', async () => {
    const admin = await api.login('globex', 'admin@globex.test');
    const users = await api.call('GET', '/users', { token: admin.access_token, query: { q: 'dev@globex.test' } });
    const dev = await api.login('globex', 'dev@globex.test');
    await api.call('POST', `/users/${users.body.data[0].id}/deactivate`, { token: admin.access_token });
    expectError(await api.call('GET', '/auth/me', { token: dev.access_token }), 401);
    expectError(await attempt('globex', 'dev@globex.test', 'wrong password here'), 401, 'invalid_credentials');
    expectError(await attempt('globex', 'dev@globex.test', PASSWORD), 403, 'forbidden');
    await api.call('POST', `/users/${users.body.data[0].id}/activate`, { token: admin.access_token });
  });
});

describe('second factor', () => {
  it('an account with MFA enabled cannot log in (not supported yet: fail closed)', async () => {
    const admin = await api.login('globex', 'admin@globex.test');
    await withTenant(gw.deps.database.db, admin.user.tenant_id, (tx) =>
      tx.update(authUsers).set({ mfaEnabled: true }).where(eq(authUsers.id, admin.user.id)).returning({ id: authUsers.id }),
    );
    expectError(await attempt('globex', 'admin@globex.test', PASSWORD), 403, 'forbidden');
    expectError(await attempt('globex', 'admin@globex.test', 'wrong password here'), 401, 'invalid_credentials');
    await withTenant(gw.deps.database.db, admin.user.tenant_id, (tx) =>
      tx.update(authUsers).set({ mfaEnabled: false }).where(eq(authUsers.id, admin.user.id)).returning({ id: authUsers.id }),
    );
  });
});

describe('login input', () => {
  it('the tenant slug is matched in any letter case', async () => {
    expect((await attempt(' ACME ', 'dev@acme.test', PASSWORD)).status).toBe(200);
  });

  it('400 naming the field', async () => {
    expectError(await api.call('POST', '/auth/login', { body: { tenant: 'acme', email: 'dev@acme.test' } }), 400, 'invalid_request_error', 'password');
    expectError(await api.call('POST', '/auth/login', { body: { tenant: 'Not A Slug', email: 'dev@acme.test', password: 'x' } }), 400, 'invalid_request_error', 'tenant');
    expectError(await api.call('POST', '/auth/login', { body: { tenant: 'acme', email: 'not-an-email', password: 'x' } }), 400, 'invalid_request_error', 'email');
    expectError(await api.call('POST', '/auth/login', { body: { tenant: 'acme', email: 'dev@acme.test', password: 'x', role: 'super_admin' } }), 400, 'invalid_request_error', 'role');
    expectError(await api.call('POST', '/auth/login', { raw: '{"tenant": ' }), 400, 'invalid_json');
    expectError(await api.call('POST', '/auth/login', { body: [1, 2] }), 400, 'invalid_request_error');
  });
});

describe('session expiry', () => {
  let short: TestGateway;
  beforeAll(async () => {
    short = await startGateway({ config: adminConfig(upstream.url), env: { LYSS_SESSION_TTL_MS: '1000' } });
  });
  afterAll(async () => {
    await short?.close();
  });

  it('an expired access token is refused; the refresh token still rotates', async () => {
    const shortApi = client(short);
    const s = await shortApi.login('acme', 'dev@acme.test');
    expect(s).toMatchObject({ expires_in: 1 });
    await sleep(1100);
    expectError(await shortApi.call('GET', '/auth/me', { token: s.access_token }), 401, 'invalid_session');
    const r = await shortApi.call('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } });
    expect(r.status).toBe(200);
    expect((await shortApi.call('GET', '/auth/me', { token: r.body.access_token })).status).toBe(200);
  });
});
