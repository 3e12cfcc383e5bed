import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { eventually, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_USAGE, type MockUpstream } from '../../helpers/mock-upstream.js';
import { ACME_TOKEN, expectError, type Client, type Sessions, startAdminStack, stopAdminStack } from './helpers.js';

let upstream: MockUpstream;
let gw: TestGateway;
let api: Client;
let s: Sessions;
let conversationId: string;
beforeAll(async () => {
  ({ upstream, gw, api, s } = await startAdminStack());
  const openai = new OpenAI({ baseURL: gw.baseURL, apiKey: ACME_TOKEN });
  for (let i = 0; i < 3; i++) {
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }], ...(i === 1 ? { temperature: 0.5, max_tokens: 64 } : {}) });
  }
  // Usage is written in batches: wait until the three conversations are there.
  await eventually(async () => {
    const r = await api.call('GET', '/conversations', { token: s.acmeAdmin.token });
    expect(r.body.total).toBe(3);
  });
  conversationId = (await api.call('GET', '/conversations', { token: s.acmeAdmin.token, query: { q: 'question 1' } })).body.data[0].id;
});
afterAll(() => stopAdminStack({ gw, upstream }));

describe('usage', () => {
  it('aggregates by day, model, channel and user over a range', async () => {
    const t = s.acmeAdmin.token;
    const day = await api.call('GET', '/usage', { token: t });
    expect(day.status).toBe(200);
    expect(day.body.source).toBe('chat_messages');
    expect(day.body.data).toHaveLength(1);
    expect(day.body.data[0]).toMatchObject({ key: new Date().toISOString().slice(0, 10), messages: 6, conversations: 3 });
    const completionTokens = 3 * DEFAULT_USAGE.completion;
    expect(day.body.data[0].tokens).toBeGreaterThanOrEqual(completionTokens);

    const model = await api.call('GET', '/usage', { token: t, query: { group_by: 'model' } });
    expect(model.body.data.map((r: { key: string }) => r.key)).toEqual(['gpt-4o-mini']);
    const channel = await api.call('GET', '/usage', { token: t, query: { group_by: 'channel' } });
    // dev reaches three channels (tenant, personal, group): the requests spread over them.
    expect(channel.body.data.reduce((n: number, r: { messages: number }) => n + r.messages, 0)).toBe(6);
    for (const row of channel.body.data) expect(['main', 'dev-personal', 'research-group']).toContain(row.label);
    const user = await api.call('GET', '/usage', { token: t, query: { group_by: 'user' } });
    expect(user.body.data).toEqual([expect.objectContaining({ key: s.acmeDev.userId, label: 'dev@acme.test', messages: 6 })]);

    const past = await api.call('GET', '/usage', { token: t, query: { from: '2020-01-01T00:00:00Z', to: '2020-02-01T00:00:00Z' } });
    expect(past.body.data).toEqual([]);
    expectError(await api.call('GET', '/usage', { token: t, query: { from: '2030-01-01T00:00:00Z', to: '2020-01-01T00:00:00Z' } }), 400, 'invalid_request_error', 'from');
    expectError(await api.call('GET', '/usage', { token: t, query: { group_by: 'hour' } }), 400, 'invalid_request_error', 'group_by');
  });

  it('per token: lifetime quota spent', async () => {
    const r = await api.call('GET', '/usage', { token: s.acmeAdmin.token, query: { group_by: 'token' } });
    expect(r.body.source).toBe('provider_tokens');
    await eventually(async () => {
      const again = await api.call('GET', '/usage', { token: s.acmeAdmin.token, query: { group_by: 'token' } });
      expect(again.body.data[0]).toMatchObject({ label: 'ci', tokens: 3 * (DEFAULT_USAGE.prompt + DEFAULT_USAGE.completion), messages: null });
    });
  });

  it('end users see only their own usage; other tenants see none of it', async () => {
    expect((await api.call('GET', '/usage', { token: s.acmeDev.token })).body.data[0].messages).toBe(6);
    expect((await api.call('GET', '/usage', { token: s.acmeOther.token })).body.data).toEqual([]);
    expect((await api.call('GET', '/usage', { token: s.acmeOther.token, query: { user_id: s.acmeDev.userId } })).body.data).toEqual([]);
    expect((await api.call('GET', '/usage', { token: s.globexAdmin.token })).body.data).toEqual([]);
    expect((await api.call('GET', '/usage', { token: s.globexAdmin.token, query: { group_by: 'user', user_id: s.acmeDev.userId } })).body.data).toEqual([]);
  });
});

describe('conversations', () => {
  it('lists, gets with messages, archives and deletes', async () => {
    const t = s.acmeDev.token;
    const list = await api.call('GET', '/conversations', { token: t, query: { per_page: 2 } });
    expect(list.body).toMatchObject({ total: 3, per_page: 2 });
    expect(list.body.data).toHaveLength(2);

    const got = await api.call('GET', `/conversations/${conversationId}`, { token: t });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: conversationId, user_id: s.acmeDev.userId, message_count: 2, temperature: 0.5, max_tokens: 64, messages_truncated: false });
    expect(got.body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(got.body.messages[0].content).toBe('question 1');

    const arch = await api.call('POST', `/conversations/${conversationId}/archive`, { token: t });
    expect(arch.body.status).toBe('archived');
    expect((await api.call('GET', '/conversations', { token: t, query: { status: 'archived' } })).body.total).toBe(1);

    // Admins see every conversation of the tenant; other users and tenants see none.
    expect((await api.call('GET', '/conversations', { token: s.acmeAdmin.token, query: { user_id: s.acmeDev.userId } })).body.total).toBe(3);
    expect((await api.call('GET', '/conversations', { token: s.acmeOther.token })).body.total).toBe(0);
    expectError(await api.call('GET', `/conversations/${conversationId}`, { token: s.acmeOther.token }), 404, 'not_found');
    expectError(await api.call('GET', `/conversations/${conversationId}`, { token: s.globexAdmin.token }), 404, 'not_found');

    expect((await api.call('DELETE', `/conversations/${conversationId}`, { token: t })).status).toBe(204);
    expectError(await api.call('GET', `/conversations/${conversationId}`, { token: t }), 404, 'not_found');
    const usage = await api.call('GET', '/usage', { token: t });
    expect(usage.body.data[0]).toMatchObject({ messages: 4, conversations: 2 });
  });
});
