import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/crypto/digest.js';
import { withTenant } from '../../../src/db/tenant.js';
import { authUserSessions } from '../../../src/db/schema/index.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { adminConfig, client, expectError, PASSWORD, type Client } from './helpers.js';

let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({ config: adminConfig(upstream.url) });
  api = client(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('login and me', () => {
  it('returns an access and a refresh token once, stored only as digests', async () => {
    const r = await api.call('POST', '/auth/login', { body: { tenant: 'acme', email: 'Admin@Acme.test', password: PASSWORD } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, user: { email: 'admin@acme.test', role: 'tenant_admin' } });
    expect(r.body.access_token).toMatch(/^lyss_at_/);
    expect(r.body.refresh_token).toMatch(/^lyss_rt_/);
    const stored = await withTenant(gw.deps.database.db, r.body.user.tenant_id, (tx) =>
      tx.select({ s: authUserSessions.sessionToken, r: authUserSessions.refreshToken, ip: authUserSessions.ipAddress }).from(authUserSessions),
    );
    const mine = stored.find((row) => row.s === sha256Hex(r.body.access_token));
    expect(mine).toBeDefined();
    expect(mine!.r).toBe(sha256Hex(r.body.refresh_token));
    expect(JSON.stringify(stored)).not.toContain(r.body.access_token);
  });

  it('GET /auth/me names the user, tenant and session', async () => {
    const s = await api.login('acme', 'dev@acme.test');
    const me = await api.call('GET', '/auth/me', { token: s.access_token });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ email: 'dev@acme.test', role: 'end_user' });
    expect(me.body.user).not.toHaveProperty('hashed_password');
    expect(me.body.tenant).toMatchObject({ slug: 'acme', status: 'active' });
    expect(me.body.session.id).toBe(s.session_id);
    expect(me.headers.get('cache-control')).toBe('no-store');
  });

  it('PATCH /auth/me changes the profile', async () => {
    const s = await api.login('acme', 'other@acme.test');
    const r = await api.call('PATCH', '/auth/me', { token: s.access_token, body: { full_name: 'Other Person' } });
    expect(r.status).toBe(200);
    expect(r.body.full_name).toBe('Other Person');
    expect(r.body.role).toBe('end_user');
  });
});

describe('refresh rotation', () => {
  it('rotates both tokens; the old access token stops working', async () => {
    const s = await api.login('acme', 'admin@acme.test');
    const r = await api.call('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } });
    expect(r.status).toBe(200);
    expect(r.body.session_id).toBe(s.session_id);
    expect(r.body.access_token).not.toBe(s.access_token);
    expect(r.body.refresh_token).not.toBe(s.refresh_token);
    expectError(await api.call('GET', '/auth/me', { token: s.access_token }), 401, 'invalid_session');
    expect((await api.call('GET', '/auth/me', { token: r.body.access_token })).status).toBe(200);
    // And again with the new refresh token.
    const r2 = await api.call('POST', '/auth/refresh', { body: { refresh_token: r.body.refresh_token } });
    expect(r2.status).toBe(200);
  });

  it('a reused refresh token revokes the whole session', async () => {
    const s = await api.login('acme', 'admin@acme.test');
    const rotated = await api.call('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } });
    expect(rotated.status).toBe(200);
    const reuse = await api.call('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } });
    expectError(reuse, 401, 'refresh_token_reused');
    // The thief's replay killed the legitimate holder's tokens too.
    expectError(await api.call('GET', '/auth/me', { token: rotated.body.access_token }), 401, 'invalid_session');
    expectError(await api.call('POST', '/auth/refresh', { body: { refresh_token: rotated.body.refresh_token } }), 401, 'invalid_session');
  });

  it('two concurrent refreshes with one token: one wins, the session is then revoked', async () => {
    const s = await api.login('acme', 'admin@acme.test');
    const [a, b] = await Promise.all([
      api.call('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } }),
      api.call('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 401]);
  });

  it('refuses a refresh token that is not one', async () => {
    expectError(await api.call('POST', '/auth/refresh', { body: { refresh_token: 'lyss_rt_nonsense' } }), 401, 'invalid_session');
    const fake = `lyss_rt_${crypto.randomUUID()}.${'A'.repeat(43)}`;
    expectError(await api.call('POST', '/auth/refresh', { body: { refresh_token: fake } }), 401, 'invalid_session');
  });
});

describe('logout', () => {
  it('revokes the session: access and refresh tokens stop working', async () => {
    const s = await api.login('acme', 'dev@acme.test');
    const out = await api.call('POST', '/auth/logout', { token: s.access_token });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ ok: true });
    expectError(await api.call('GET', '/auth/me', { token: s.access_token }), 401, 'invalid_session');
    expectError(await api.call('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } }), 401, 'invalid_session');
  });

  it('other sessions of the same user stay', async () => {
    const a = await api.login('acme', 'dev@acme.test');
    const b = await api.login('acme', 'dev@acme.test');
    await api.call('POST', '/auth/logout', { token: a.access_token });
    expect((await api.call('GET', '/auth/me', { token: b.access_token })).status).toBe(200);
  });
});

describe('password change', () => {
  it('needs the current password, keeps this session and ends the others', async () => {
    const keep = await api.login('globex', 'other@globex.test');
    const other = await api.login('globex', 'other@globex.test');
    const wrong = await api.call('POST', '/auth/password', { token: keep.access_token, body: { current_password: 'not the password', new_password: 'a brand new passphrase' } });
    expectError(wrong, 400, 'invalid_request_error', 'current_password');

    const ok = await api.call('POST', '/auth/password', { token: keep.access_token, body: { current_password: PASSWORD, new_password: 'a brand new passphrase' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ ok: true, revoked_sessions: 1 });
    expect((await api.call('GET', '/auth/me', { token: keep.access_token })).status).toBe(200);
    expectError(await api.call('GET', '/auth/me', { token: other.access_token }), 401);

    expectError(await api.call('POST', '/auth/login', { body: { tenant: 'globex', email: 'other@globex.test', password: PASSWORD } }), 401, 'invalid_credentials');
    expect((await api.call('POST', '/auth/login', { body: { tenant: 'globex', email: 'other@globex.test', password: 'a brand new passphrase' } })).status).toBe(200);
  });

  it('rejects a short new password naming the field', async () => {
    const s = await api.login('acme', 'dev@acme.test');
    expectError(await api.call('POST', '/auth/password', { token: s.access_token, body: { current_password: PASSWORD, new_password: 'short' } }), 400, 'invalid_request_error', 'new_password');
  });
});
