import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestGateway } from '../../helpers/gateway.js';
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

describe('groups and members', () => {
  it('creates, renames, lists with pagination and deletes', async () => {
    const t = s.acmeAdmin.token;
    const g = await api.call('POST', '/groups', { token: t, body: { name: 'ops', description: 'operations' } });
    expect(g.status).toBe(201);
    expect(g.body).toMatchObject({ name: 'ops', description: 'operations', member_count: 0, created_by: s.acmeAdmin.userId });
    const renamed = await api.call('PATCH', `/groups/${g.body.id}`, { token: t, body: { name: 'operations' } });
    expect(renamed.body).toMatchObject({ name: 'operations', description: 'operations' });
    expectError(await api.call('PATCH', `/groups/${g.body.id}`, { token: t, body: { name: 'research' } }), 409, 'conflict', 'name');

    for (let i = 0; i < 6; i++) await api.call('POST', '/groups', { token: t, body: { name: `g${i}` } });
    const p1 = await api.call('GET', '/groups', { token: t, query: { per_page: 4 } });
    const p2 = await api.call('GET', '/groups', { token: t, query: { per_page: 4, page: 2 } });
    expect(p1.body.total).toBe(8);
    expect([...p1.body.data, ...p2.body.data]).toHaveLength(8);
    const research = p2.body.data.find((x: { name: string }) => x.name === 'research') ?? p1.body.data.find((x: { name: string }) => x.name === 'research');
    expect(research.member_count).toBe(1);

    const del = await api.call('DELETE', `/groups/${g.body.id}`, { token: t });
    expect(del.status).toBe(204);
    expectError(await api.call('GET', `/groups/${g.body.id}`, { token: t }), 404, 'not_found');
  });

  it('adds, re-roles and removes members', async () => {
    const t = s.acmeAdmin.token;
    const g = await api.call('POST', '/groups', { token: t, body: { name: 'team' } });
    const add = await api.call('POST', `/groups/${g.body.id}/members`, { token: t, body: { user_id: s.acmeOther.userId, role: 'admin' } });
    expect(add.status).toBe(201);
    expect(add.body).toMatchObject({ user_id: s.acmeOther.userId, email: 'other@acme.test', role: 'admin' });
    expectError(await api.call('POST', `/groups/${g.body.id}/members`, { token: t, body: { user_id: s.acmeOther.userId } }), 409, 'conflict', 'user_id');
    await api.call('POST', `/groups/${g.body.id}/members`, { token: t, body: { user_id: s.acmeDev.userId } });

    const members = await api.call('GET', `/groups/${g.body.id}/members`, { token: t });
    expect(members.body.total).toBe(2);
    expect(members.body.data.map((m: { email: string; role: string }) => `${m.email}:${m.role}`)).toEqual(['dev@acme.test:member', 'other@acme.test:admin']);

    const re = await api.call('PATCH', `/groups/${g.body.id}/members/${s.acmeOther.userId}`, { token: t, body: { role: 'member' } });
    expect(re.body.role).toBe('member');
    expect((await api.call('DELETE', `/groups/${g.body.id}/members/${s.acmeOther.userId}`, { token: t })).status).toBe(204);
    expectError(await api.call('DELETE', `/groups/${g.body.id}/members/${s.acmeOther.userId}`, { token: t }), 404, 'not_found', 'user_id');
    expect((await api.call('GET', `/groups/${g.body.id}`, { token: t })).body.member_count).toBe(1);
  });

  it('will not delete a group that group channels use', async () => {
    const list = await api.call('GET', '/groups', { token: s.acmeAdmin.token, query: { q: 'research' } });
    expectError(await api.call('DELETE', `/groups/${list.body.data[0].id}`, { token: s.acmeAdmin.token }), 409, 'conflict');
  });
});
