/**
 * Tenant isolation and privilege boundaries: every endpoint against every role, and tenant A's sessions
 * against tenant B's ids (read, update, delete, actions, list filters, body references, guessed UUIDs).
 * Every refusal is a 401/403/404 with the JSON error shape, never a 500, and nothing of B changes.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import OpenAI from 'openai';
import { sql } from 'drizzle-orm';
import { allAdminRoutes } from '../../../src/admin/routes.js';
import { pathsOf } from '../../../src/admin/register.js';
import { withTenant } from '../../../src/db/tenant.js';
import { queryRows } from '../../../src/db/client.js';
import { providerTokens } from '../../../src/db/schema/index.js';
import { eventually, type TestGateway } from '../../helpers/gateway.js';
import type { MockUpstream } from '../../helpers/mock-upstream.js';
import { expectError, GLOBEX_TOKEN, PASSWORD, type ApiResponse, type Client, type Sessions, startAdminStack, stopAdminStack } from './helpers.js';

let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
let s: Sessions;

/** Globex's ids, the targets of acme's attempts. */
const b = {} as {
  tenantId: string;
  devId: string;
  adminId: string;
  groupId: string;
  tenantChannel: string;
  personalChannel: string;
  groupChannel: string;
  tokenId: string;
  conversationId: string;
};
/** Acme's own ids. */
const a = {} as { groupId: string; tenantChannel: string; personalChannel: string; tokenId: string; otherToken: string };

const byName = (list: { data: { id: string; name: string }[] }, name: string) => list.data.find((x) => x.name === name)!.id;

beforeAll(async () => {
  ({ upstream, gw, api, s } = await startAdminStack());
  await new OpenAI({ baseURL: gw.baseURL, apiKey: GLOBEX_TOKEN }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'globex secret question' }] });

  const g = s.globexAdmin.token;
  const channels = (await api.call('GET', '/channels', { token: g })).body;
  b.tenantId = s.globexAdmin.tenantId;
  b.devId = s.globexDev.userId;
  b.adminId = s.globexAdmin.userId;
  b.groupId = (await api.call('GET', '/groups', { token: g })).body.data[0].id;
  b.tenantChannel = byName(channels, 'main');
  b.personalChannel = byName(channels, 'dev-personal');
  b.groupChannel = byName(channels, 'research-group');
  b.tokenId = (await api.call('GET', '/tokens', { token: g })).body.data[0].id;
  b.conversationId = await eventually(async () => {
    const r = await api.call('GET', '/conversations', { token: g });
    expect(r.body.total).toBe(1);
    return r.body.data[0].id as string;
  });

  const t = s.acmeAdmin.token;
  const acmeChannels = (await api.call('GET', '/channels', { token: t })).body;
  a.groupId = (await api.call('GET', '/groups', { token: t })).body.data[0].id;
  a.tenantChannel = byName(acmeChannels, 'main');
  a.personalChannel = byName(acmeChannels, 'dev-personal');
  a.tokenId = (await api.call('GET', '/tokens', { token: t })).body.data[0].id;
  a.otherToken = (await api.call('POST', '/tokens', { token: t, body: { name: 'others', user_id: s.acmeOther.userId } })).body.id;
});
afterAll(() => stopAdminStack({ gw, upstream }));

/** What globex looks like to its own admin: compared before and after acme's attempts. */
async function globexSnapshot() {
  const g = s.globexAdmin.token;
  const get = async (p: string) => (await api.call('GET', p, { token: g })).body;
  return {
    tenant: await get('/auth/me'),
    users: await get('/users'),
    groups: await get('/groups'),
    members: await get(`/groups/${b.groupId}/members`),
    channels: await get('/channels'),
    tokens: await get('/tokens'),
    conversation: await get(`/conversations/${b.conversationId}`),
  };
}

function expectRefused(r: ApiResponse, allowed: number[] = [403, 404]): void {
  expect(allowed, `${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
  expectError(r, r.status);
}

describe('every endpoint against every role', () => {
  it('anonymous 401, missing role 403, other tenants 403, never a 500', async () => {
    type Caller = 'anonymous' | 'end_user' | 'tenant_admin' | 'super_admin';
    // Sessions of its own: the matrix ends with logout.
    const tokens: Record<Caller, string | null> = {
      anonymous: null,
      end_user: (await api.login('acme', 'dev@acme.test')).access_token,
      tenant_admin: (await api.login('acme', 'admin@acme.test')).access_token,
      super_admin: (await api.login('root', 'super@root.test')).access_token,
    };
    // Logout ends the caller's session: it runs last.
    const routes = [...allAdminRoutes].sort((x, y) => Number(x.path === '/auth/logout') - Number(y.path === '/auth/logout'));
    let calls = 0;
    for (const route of routes) {
      for (const path of pathsOf(route)) {
        const crossTenant = path.startsWith('/tenants/{tenant_id}');
        const concrete = path
          .replace('{tenant_id}', b.tenantId)
          .replace(/\{(id|user_id)\}/g, () => crypto.randomUUID());
        for (const caller of Object.keys(tokens) as Caller[]) {
          const r = await api.call(route.method.toUpperCase(), concrete, { token: tokens[caller], body: route.body ? {} : undefined });
          calls++;
          const where = `${caller} ${route.method} ${path}: ${r.status} ${JSON.stringify(r.body)}`;
          expect(r.status, where).not.toBeGreaterThanOrEqual(500);
          if (r.status >= 400) expectError(r, r.status);
          if (!route.roles) continue;
          if (caller === 'anonymous') expect(r.status, where).toBe(401);
          else if (!route.roles.includes(caller)) expect(r.status, where).toBe(403);
          else if (crossTenant && caller !== 'super_admin') expect(r.status, where).toBe(403);
          else expect([200, 201, 204, 400, 404, 409], where).toContain(r.status);
        }
      }
    }
    expect(calls).toBeGreaterThan(250);
  });
});

describe("tenant A against tenant B's ids", () => {
  it('reads, updates, deletes and actions on B ids are 404/403 and change nothing', async () => {
    const before = await globexSnapshot();
    const upstreamCalls = upstream.requests.length;
    const attempts: [string, string, unknown?][] = [
      ['GET', `/users/${b.devId}`],
      ['PATCH', `/users/${b.devId}`, { full_name: 'pwned' }],
      ['PATCH', `/users/${b.adminId}`, { role: 'end_user' }],
      ['POST', `/users/${b.devId}/deactivate`],
      ['POST', `/users/${b.devId}/activate`],
      ['GET', `/groups/${b.groupId}`],
      ['PATCH', `/groups/${b.groupId}`, { name: 'pwned' }],
      ['DELETE', `/groups/${b.groupId}`],
      ['GET', `/groups/${b.groupId}/members`],
      ['POST', `/groups/${b.groupId}/members`, { user_id: s.acmeDev.userId }],
      ['PATCH', `/groups/${b.groupId}/members/${b.devId}`, { role: 'admin' }],
      ['DELETE', `/groups/${b.groupId}/members/${b.devId}`],
      ...[b.tenantChannel, b.personalChannel, b.groupChannel].flatMap((id): [string, string, unknown?][] => [
        ['GET', `/channels/${id}`],
        ['PATCH', `/channels/${id}`, { name: 'pwned', key: 'sk-attacker-key-00000' }],
        ['POST', `/channels/${id}/disable`],
        ['POST', `/channels/${id}/enable`],
        ['POST', `/channels/${id}/test`],
        ['DELETE', `/channels/${id}`],
      ]),
      ['GET', `/tokens/${b.tokenId}`],
      ['PATCH', `/tokens/${b.tokenId}`, { status: 'disabled' }],
      ['DELETE', `/tokens/${b.tokenId}`],
      ['GET', `/conversations/${b.conversationId}`],
      ['POST', `/conversations/${b.conversationId}/archive`],
      ['DELETE', `/conversations/${b.conversationId}`],
    ];
    for (const token of [s.acmeAdmin.token, s.acmeDev.token]) {
      for (const [method, path, body] of attempts) {
        expectRefused(await api.call(method, path, { token, body }));
        // The explicit cross-tenant form is refused to everyone but a super admin.
        expectRefused(await api.call(method, `/tenants/${b.tenantId}${path}`, { token, body }), [403]);
      }
    }
    expect(upstream.requests.length).toBe(upstreamCalls);
    expect(await globexSnapshot()).toEqual(before);
    // B's relay token still works.
    expect((await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${GLOBEX_TOKEN}` } })).status).toBe(200);
  });

  it('list filters naming B ids find nothing, and no list shows anything of B', async () => {
    const t = s.acmeAdmin.token;
    const empty = async (path: string, query: Record<string, string>) => {
      const r = await api.call('GET', path, { token: t, query });
      expect(r.status).toBe(200);
      expect(r.body.data).toEqual([]);
    };
    await empty('/tokens', { user_id: b.devId });
    await empty('/channels', { owner_id: b.devId });
    await empty('/channels', { group_id: b.groupId });
    await empty('/conversations', { user_id: b.devId });
    await empty('/users', { q: 'globex' });
    await empty('/usage', { group_by: 'user', user_id: b.devId });
    await empty('/usage', { group_by: 'token', user_id: b.devId });
    await empty('/usage', { group_by: 'channel', channel_id: b.tenantChannel });

    const seen = JSON.stringify(
      await Promise.all(['/users', '/groups', '/channels', '/tokens', '/conversations', '/usage', '/usage?group_by=token'].map(async (p) => (await api.call('GET', p, { token: t, query: { per_page: undefined } })).body)),
    );
    for (const id of Object.values(b)) expect(seen).not.toContain(id);
    expect(seen).not.toContain('globex');
  });

  it('body references to B ids are 404 and write nothing', async () => {
    const t = s.acmeAdmin.token;
    const tokensBefore = (await api.call('GET', '/tokens', { token: t })).body.total;
    const channelsBefore = (await api.call('GET', '/channels', { token: t })).body.total;
    const channel = { name: 'ref', type: 'openai', key: 'sk-ref-key-000000000', models: ['m'], base_url: upstream.url };
    expectError(await api.call('POST', '/tokens', { token: t, body: { name: 'ref', user_id: b.devId } }), 404, 'not_found', 'user_id');
    expectError(await api.call('POST', '/tokens', { token: t, body: { name: 'ref', allowed_channels: [b.tenantChannel] } }), 404, 'not_found', 'allowed_channels[0]');
    expectError(await api.call('PATCH', `/tokens/${a.tokenId}`, { token: t, body: { allowed_channels: [b.groupChannel] } }), 404, 'not_found', 'allowed_channels[0]');
    expectError(await api.call('POST', '/channels', { token: t, body: { ...channel, scope: 'personal', owner_id: b.devId } }), 404, 'not_found', 'owner_id');
    expectError(await api.call('POST', '/channels', { token: t, body: { ...channel, scope: 'group', group_id: b.groupId } }), 404, 'not_found', 'group_id');
    expectError(await api.call('PATCH', `/channels/${a.tenantChannel}`, { token: t, body: { scope: 'group', group_id: b.groupId } }), 404, 'not_found', 'group_id');
    expectError(await api.call('POST', `/groups/${a.groupId}/members`, { token: t, body: { user_id: b.devId } }), 404, 'not_found', 'user_id');
    expect((await api.call('GET', '/tokens', { token: t })).body.total).toBe(tokensBefore);
    expect((await api.call('GET', '/channels', { token: t })).body.total).toBe(channelsBefore);
  });

  it('guessed UUIDs are 404 for every kind of resource', async () => {
    const t = s.acmeAdmin.token;
    for (const kind of ['users', 'groups', 'channels', 'tokens', 'conversations']) {
      expectError(await api.call('GET', `/${kind}/${crypto.randomUUID()}`, { token: t }), 404, 'not_found', 'id');
    }
    expectError(await api.call('GET', '/channels/00000000-0000-0000-0000-000000000000', { token: t }), 404, 'not_found');
  });

  it('a super admin reaches B only through the explicit, logged path', async () => {
    const info = vi.spyOn(gw.deps.logger, 'info');
    try {
      const r = await api.call('GET', `/tenants/${b.tenantId}/users`, { token: s.superAdmin.token });
      expect(r.status).toBe(200);
      expect(r.body.data.map((u: { email: string }) => u.email)).toContain('dev@globex.test');
      expect(info).toHaveBeenCalledWith('audit: super admin acting for another tenant', expect.objectContaining({ tenantId: b.tenantId, actorId: s.superAdmin.userId }));
    } finally {
      info.mockRestore();
    }
    // Without the tenant in the path, a super admin acts in their own tenant: B's ids are not found there.
    expectError(await api.call('GET', `/users/${b.devId}`, { token: s.superAdmin.token }), 404);
    // A tenant admin naming their own tenant in the explicit form is fine.
    expect((await api.call('GET', `/tenants/${s.acmeAdmin.tenantId}/users`, { token: s.acmeAdmin.token })).status).toBe(200);
  });
});

describe('no one raises their own rights', () => {
  it('end users cannot reach user management or make themselves admin', async () => {
    const t = s.acmeDev.token;
    expectError(await api.call('PATCH', `/users/${s.acmeDev.userId}`, { token: t, body: { role: 'tenant_admin' } }), 403, 'forbidden');
    expectError(await api.call('POST', '/users', { token: t, body: { email: 'x@acme.test', password: PASSWORD, role: 'tenant_admin' } }), 403, 'forbidden');
    expectError(await api.call('PATCH', '/auth/me', { token: t, body: { role: 'super_admin' } }), 400, 'invalid_request_error', 'role');
    expectError(await api.call('POST', '/groups', { token: t, body: { name: 'mine' } }), 403, 'forbidden');
    expectError(await api.call('POST', `/groups/${a.groupId}/members`, { token: t, body: { user_id: s.acmeDev.userId, role: 'admin' } }), 403, 'forbidden');
    expectError(await api.call('POST', '/tenants', { token: t, body: { slug: 'mine', name: 'Mine' } }), 403, 'forbidden');
    expect((await api.call('GET', '/auth/me', { token: t })).body.user.role).toBe('end_user');
  });

  it("end users reach only their own channels and tokens, and cannot widen a channel's scope", async () => {
    const t = s.acmeDev.token;
    const upstreamCalls = upstream.requests.length;
    for (const [method, path, body] of [
      ['GET', `/channels/${a.tenantChannel}`],
      ['PATCH', `/channels/${a.tenantChannel}`, { models: ['x'] }],
      ['POST', `/channels/${a.tenantChannel}/disable`],
      ['POST', `/channels/${a.tenantChannel}/test`],
      ['DELETE', `/channels/${a.tenantChannel}`],
      ['GET', `/tokens/${a.otherToken}`],
      ['PATCH', `/tokens/${a.otherToken}`, { status: 'disabled' }],
      ['DELETE', `/tokens/${a.otherToken}`],
    ] as [string, string, unknown?][]) {
      expectError(await api.call(method, path, { token: t, body }), 404, 'not_found');
    }
    expect(upstream.requests.length).toBe(upstreamCalls);
    const channel = { name: 'esc', type: 'openai', key: 'sk-esc-key-000000000', models: ['m'], base_url: upstream.url };
    expectError(await api.call('POST', '/channels', { token: t, body: { ...channel, scope: 'tenant' } }), 403, 'forbidden', 'scope');
    expectError(await api.call('POST', '/channels', { token: t, body: { ...channel, scope: 'group', group_id: a.groupId } }), 403, 'forbidden', 'scope');
    expectError(await api.call('POST', '/channels', { token: t, body: { ...channel, owner_id: s.acmeOther.userId } }), 403, 'forbidden', 'owner_id');
    expectError(await api.call('PATCH', `/channels/${a.personalChannel}`, { token: t, body: { scope: 'tenant' } }), 403, 'forbidden', 'scope');
    expectError(await api.call('PATCH', `/channels/${a.personalChannel}`, { token: t, body: { owner_id: s.acmeOther.userId } }), 403, 'forbidden', 'owner_id');
    expectError(await api.call('PATCH', `/channels/${a.personalChannel}`, { token: t, body: { group_id: a.groupId } }), 403, 'forbidden', 'group_id');
    expect((await api.call('GET', `/channels/${a.personalChannel}`, { token: s.acmeAdmin.token })).body).toMatchObject({ scope: 'personal', owner_id: s.acmeDev.userId });
    // Another end user cannot see dev's personal channel.
    expectError(await api.call('GET', `/channels/${a.personalChannel}`, { token: s.acmeOther.token }), 404, 'not_found');
    expect((await api.call('GET', '/channels', { token: s.acmeOther.token, query: { owner_id: s.acmeDev.userId } })).body.data).toEqual([]);
  });

  it('tenant admins cannot grant super_admin, change their own role, deactivate themselves or touch a super admin', async () => {
    const t = s.acmeAdmin.token;
    expectError(await api.call('POST', '/users', { token: t, body: { email: 'boss@acme.test', password: PASSWORD, role: 'super_admin' } }), 403, 'forbidden', 'role');
    expectError(await api.call('PATCH', `/users/${s.acmeOther.userId}`, { token: t, body: { role: 'super_admin' } }), 403, 'forbidden', 'role');
    expectError(await api.call('PATCH', `/users/${s.acmeAdmin.userId}`, { token: t, body: { role: 'end_user' } }), 403, 'forbidden', 'role');
    expectError(await api.call('POST', `/users/${s.acmeAdmin.userId}/deactivate`, { token: t }), 403, 'forbidden', 'status');
    // Their own password only through /auth/password, which asks for the current one: a stolen session is not an account.
    expectError(await api.call('PATCH', `/users/${s.acmeAdmin.userId}`, { token: t, body: { password: 'hijacked-password-123' } }), 403, 'forbidden', 'password');
    expect((await api.call('POST', '/auth/login', { body: { tenant: 'acme', email: 'admin@acme.test', password: 'hijacked-password-123' } })).status).toBe(401);

    const sa = await api.call('POST', `/tenants/${s.acmeAdmin.tenantId}/users`, { token: s.superAdmin.token, body: { email: 'sa@acme.test', password: PASSWORD, role: 'super_admin' } });
    expect(sa.status).toBe(201);
    expectError(await api.call('PATCH', `/users/${sa.body.id}`, { token: t, body: { full_name: 'x' } }), 403, 'forbidden');
    expectError(await api.call('POST', `/users/${sa.body.id}/deactivate`, { token: t }), 403, 'forbidden');
    expect((await api.call('GET', `/users/${sa.body.id}`, { token: t })).body).toMatchObject({ role: 'super_admin', status: 'active', full_name: null });
  });
});

describe('isolation in the database itself', () => {
  it("a tenant's transaction sees only its rows; no tenant set sees none; writes into another tenant are refused", async () => {
    const db = gw.deps.database.db;
    const acmeRows = await withTenant(db, s.acmeAdmin.tenantId, (tx) => tx.select({ tenantId: providerTokens.tenantId }).from(providerTokens));
    expect(acmeRows.length).toBeGreaterThan(0);
    expect(new Set(acmeRows.map((r) => r.tenantId))).toEqual(new Set([s.acmeAdmin.tenantId]));
    // A handler that forgot withTenant would see nothing at all.
    expect(await queryRows(db, sql`select id from provider_tokens`)).toEqual([]);
    expect(await queryRows(db, sql`select id from auth_user_sessions`)).toEqual([]);
    await expect(
      withTenant(db, s.acmeAdmin.tenantId, (tx) =>
        tx.insert(providerTokens).values({ tenantId: b.tenantId, userId: b.devId, name: 'smuggled', key: 'x'.repeat(64), keyPrefix: 'x' }).returning({ id: providerTokens.id }),
      ),
    ).rejects.toThrow();
  });
});
