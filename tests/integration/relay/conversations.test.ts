/**
 * X-Lyss-Conversation-Id: a request may continue one of its user's conversations (counters add up, messages
 * append); any other id (another user's, another tenant's, unknown, malformed, deleted) is a 404 before
 * the upstream is called.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { conversationRow, expectApiError, inTenant, messageRows, sdk, tenantIdOf } from '../../helpers/relay.js';
import { chatConversations } from '../../../src/db/schema/index.js';

const COLLEAGUE = 'lyss-colleague-0123456789abcdef012345678';
const SECOND_TOKEN = 'lyss-second-0123456789abcdef0123456789ab';
const GLOBEX = 'lyss-globex-0123456789abcdef0123456789ab';

let upstream: MockUpstream;
let gw: TestGateway;
let acme: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  const base = basicConfig(upstream.url).tenants[0]!;
  gw = await startGateway({
    config: {
      tenants: [
        {
          ...base,
          users: [...base.users, { email: 'colleague@acme.test', password: 'a colleague passphrase', role: 'end_user' }],
          tokens: [
            ...base.tokens,
            { name: 'second', user: 'dev@acme.test', key: SECOND_TOKEN, rate_limit: 100000 },
            { name: 'colleague', user: 'colleague@acme.test', key: COLLEAGUE, rate_limit: 100000 },
          ],
        },
        {
          ...base,
          slug: 'globex',
          name: 'Globex',
          users: [{ email: 'dev@globex.test', password: 'a globex passphrase', role: 'end_user' }],
          tokens: [{ name: 'ci', user: 'dev@globex.test', key: GLOBEX, rate_limit: 100000 }],
        },
      ],
    },
  });
  acme = await tenantIdOf(gw, 'acme');
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

async function start(key = TEST_TOKEN, content = 'What is the capital of France?') {
  const { response } = await sdk(gw, key).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }).withResponse();
  return response.headers.get('x-lyss-conversation-id')!;
}

const continuing = (id: string, key = TEST_TOKEN) => sdk(gw, key, { defaultHeaders: { 'x-lyss-conversation-id': id } });

const followUp = [
  { role: 'user' as const, content: 'What is the capital of France?' },
  { role: 'assistant' as const, content: DEFAULT_REPLY },
  { role: 'user' as const, content: 'And of Italy?' },
];

describe('X-Lyss-Conversation-Id', () => {
  it('continues a conversation: messages append, counters add up, the title stays', async () => {
    const id = await start();
    const second = await continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }).withResponse();
    expect(second.response.headers.get('x-lyss-conversation-id')).toBe(id);
    // A streamed third turn, from another token of the same user.
    const stream = await continuing(id, SECOND_TOKEN).chat.completions.create({ model: 'gpt-4o-mini', messages: [...followUp, { role: 'assistant', content: 'Rome.' }, { role: 'user', content: 'Thanks!' }], stream: true });
    for await (const _ of stream);

    const rows = await eventually(async () => {
      const r = await messageRows(gw, acme, id);
      expect(r).toHaveLength(6);
      return r;
    });
    expect(rows.map((r) => `${r.role}:${r.content}`)).toEqual([
      'user:What is the capital of France?',
      `assistant:${DEFAULT_REPLY}`,
      'user:And of Italy?',
      `assistant:${DEFAULT_REPLY}`,
      'user:Thanks!',
      `assistant:${DEFAULT_REPLY}`,
    ]);
    const conversation = await eventually(async () => {
      const c = (await conversationRow(gw, acme, id))!;
      expect(c.messageCount).toBe(6);
      return c;
    });
    expect(conversation.tokenUsage).toBe(3 * 19);
    expect(conversation.title).toBe('What is the capital of France?');
  });

  it("a conversation keeps its latest request's temperature and max_tokens, null where that one set none", async () => {
    const { response } = await sdk(gw)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Be terse.' }], temperature: 0.25, max_completion_tokens: 30 })
      .withResponse();
    const id = response.headers.get('x-lyss-conversation-id')!;
    await eventually(async () => expect(await conversationRow(gw, acme, id)).toMatchObject({ temperature: 0.25, maxTokens: 30 }));
    await continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Be terse.' }, { role: 'assistant', content: DEFAULT_REPLY }, { role: 'user', content: 'More.' }] });
    await eventually(async () => expect(await conversationRow(gw, acme, id)).toMatchObject({ messageCount: 4, temperature: null, maxTokens: null }));
  });

  it('an archived conversation that a request continues is active again', async () => {
    const id = await start();
    await eventually(async () => expect(await conversationRow(gw, acme, id)).not.toBeNull());
    await inTenant(gw, acme, (tx) => tx.update(chatConversations).set({ status: 'archived' }).where(eq(chatConversations.id, id)));
    await continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp });
    await eventually(async () => expect(await conversationRow(gw, acme, id)).toMatchObject({ messageCount: 4, status: 'active' }));
  });

  it('finds a conversation this instance did not create (from the database)', async () => {
    const id = await start();
    await eventually(async () => expect(await conversationRow(gw, acme, id)).not.toBeNull());
    gw.deps.relay.conversations.dropAll();
    const r = await continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp });
    expect(r.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    await eventually(async () => expect((await conversationRow(gw, acme, id))!.messageCount).toBe(4));
  });

  it('each request without the header starts its own conversation', async () => {
    const a = await start();
    const b = await start();
    expect(a).not.toBe(b);
  });

  it.each([
    ['an unknown id', () => randomUUID()],
    ['a malformed id', () => 'not-a-uuid'],
  ])('404 for %s, upstream not called', async (_label, id) => {
    await expectApiError(continuing(id()).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }), { status: 404, type: 'invalid_request_error', code: 'conversation_not_found' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('404 for another user\'s conversation, before and after it is written', async () => {
    const id = await start(COLLEAGUE);
    await expectApiError(continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }), { status: 404, type: 'invalid_request_error', code: 'conversation_not_found' });
    await eventually(async () => expect(await conversationRow(gw, acme, id)).not.toBeNull());
    gw.deps.relay.conversations.dropAll();
    upstream.reset();
    await expectApiError(continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }), { status: 404, type: 'invalid_request_error', code: 'conversation_not_found' });
    expect(upstream.requests).toHaveLength(0);
    // Untouched by the refused attempts.
    expect((await conversationRow(gw, acme, id))!.messageCount).toBe(2);
  });

  it('404 for another tenant\'s conversation', async () => {
    const id = await start(GLOBEX);
    await eventually(async () => expect(await conversationRow(gw, await tenantIdOf(gw, 'globex'), id)).not.toBeNull());
    await expectApiError(continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }), { status: 404, type: 'invalid_request_error', code: 'conversation_not_found' });
  });

  it('404 for a deleted conversation', async () => {
    const id = await start();
    await eventually(async () => expect(await conversationRow(gw, acme, id)).not.toBeNull());
    await inTenant(gw, acme, (tx) => tx.update(chatConversations).set({ status: 'deleted' }).where(eq(chatConversations.id, id)));
    gw.deps.relay.conversations.dropAll();
    await expectApiError(continuing(id).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }), { status: 404, type: 'invalid_request_error', code: 'conversation_not_found' });
  });

  it('a stream answer names its conversation in the headers too', async () => {
    const { response, data } = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }).withResponse();
    for await (const _ of data);
    const id = response.headers.get('x-lyss-conversation-id')!;
    await eventually(async () => expect((await conversationRow(gw, acme, id))!.messageCount).toBe(2));
  });
});
