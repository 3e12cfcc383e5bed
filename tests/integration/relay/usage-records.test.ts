/**
 * What each request leaves in the database once the usage batch is written: spend on the token and the
 * channel, last_used_at, the conversation row and its chat_messages. The flush timer is turned off so each
 * test decides when the batch is written.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { channelRow, conversationRow, expectApiError, inTenant, messageRows, sdk, tenantIdOf, tokenRow } from '../../helpers/relay.js';
import { authUsers, chatConversations, chatMessages, providerChannels } from '../../../src/db/schema/index.js';
import { countChatPrompt, countText } from '../../../src/relay/tokenize.js';
import { writeUsageBatch } from '../../../src/usage/usage-repo.js';
import { isDataError } from '../../../src/usage/usage-recorder.js';
import { postgresClientOf, queryRows } from '../../../src/db/client.js';
import { newBatchId, type UsageRecord } from '../../../src/usage/usage-record.js';

const QUIET = 'lyss-quiet-0123456789abcdef0123456789abc';

let upstream: MockUpstream;
let gw: TestGateway;
let acme: string;
let quiet: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  const base = basicConfig(upstream.url, { channel: { models: ['gpt-4o-mini', 'doomed-model'], model_mapping: { 'gpt-4o-mini': 'gpt-4o-mini-2024-07-18' } } });
  const quietTenant = {
    ...base.tenants[0]!,
    slug: 'quiet',
    name: 'Quiet',
    settings: { store_content: false },
    users: [{ email: 'dev@quiet.test', password: 'another passphrase', role: 'end_user' }],
    tokens: [{ name: 'ci', user: 'dev@quiet.test', key: QUIET, rate_limit: 100000 }],
  };
  const extra = { name: 'doomed', type: 'openai', base_url: `${upstream.url}`, key: 'sk-doomed', models: ['doomed-model'], priority: 100, weight: 1, rate_limit: 100000, scope: 'tenant' };
  gw = await startGateway({
    env: { LYSS_USAGE_FLUSH_MS: '600000' },
    config: { tenants: [{ ...base.tenants[0]!, channels: [...base.tenants[0]!.channels, extra] }, quietTenant] },
  });
  acme = await tenantIdOf(gw, 'acme');
  quiet = await tenantIdOf(gw, 'quiet');
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

/** Waits for the request's record to be queued (it is queued just after the answer is sent), then writes it. */
async function written<T>(check: () => Promise<T>): Promise<T> {
  return eventually(async () => {
    await gw.deps.relay.usage.flush();
    return check();
  });
}

async function spend(tenantId = acme) {
  await gw.deps.relay.usage.flush();
  return { token: (await tokenRow(gw, tenantId, 'ci')).usedQuota, channel: (await channelRow(gw, tenantId, 'openai-main')).usedQuota };
}

/** Messages the tenant sees whose conversation it cannot see: one filed under another tenant's conversation. */
async function messagesWithoutTheirConversation(tenantId: string): Promise<number> {
  const [row] = await inTenant(gw, tenantId, (tx) =>
    queryRows<{ n: number }>(tx, sql`select count(*)::int as n from chat_messages m left join chat_conversations c on c.id = m.conversation_id where c.id is null`),
  );
  return row!.n;
}

/** A record of acme's `ci` token on `openai-main`, as the relay queues one: `cost` units for as many tokens. */
async function ciRecord(cost: number, conversation: NonNullable<UsageRecord['conversation']>): Promise<UsageRecord> {
  const token = await tokenRow(gw, acme, 'ci');
  const channel = await channelRow(gw, acme, 'openai-main');
  const at = new Date().toISOString();
  return { tenantId: acme, tokenId: token.id, userId: token.userId, channelId: channel.id, cost, promptTokens: cost - 1, completionTokens: 1, model: 'gpt-4o-mini', at, conversation };
}

describe('usage records', () => {
  it('a chat completion: spend, last_used_at, a new conversation titled from the first user message, two messages', async () => {
    const before = await spend();
    const startedAt = Date.now();
    const messages = [
      { role: 'system' as const, content: 'You are a travel agent.' },
      { role: 'user' as const, content: '  Plan a   three-day trip\nto Kyoto  ' },
    ];
    const { response } = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse();
    const conversationId = response.headers.get('x-lyss-conversation-id')!;
    expect(conversationId).toMatch(/^[0-9a-f-]{36}$/);

    const conversation = await written(async () => {
      const row = await conversationRow(gw, acme, conversationId);
      expect(row).not.toBeNull();
      return row!;
    });
    const token = await tokenRow(gw, acme, 'ci');
    const channel = await channelRow(gw, acme, 'openai-main');
    expect(token.usedQuota - before.token).toBe(19);
    expect(channel.usedQuota - before.channel).toBe(19);
    expect(token.lastUsedAt).not.toBeNull();
    expect(token.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(startedAt - 1000);

    const [dev] = await inTenant(gw, acme, (tx) => tx.select({ id: authUsers.id }).from(authUsers).where(eq(authUsers.email, 'dev@acme.test')));
    expect(conversation).toMatchObject({
      tenantId: acme,
      userId: dev!.id,
      title: 'Plan a three-day trip to Kyoto',
      modelName: 'gpt-4o-mini',
      providerChannelId: channel.id,
      systemPrompt: 'You are a travel agent.',
      messageCount: 2,
      tokenUsage: 19,
      status: 'active',
    });

    const rows = await messageRows(gw, acme, conversationId);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ tenantId: acme, role: 'user', content: messages[1]!.content, tokenCount: countText(messages[1]!.content), toolCalls: null });
    expect(rows[1]).toMatchObject({ tenantId: acme, role: 'assistant', content: DEFAULT_REPLY, tokenCount: 7, modelUsed: 'gpt-4o-mini-2024-07-18', toolCalls: null });
    expect(rows[1]!.responseTimeMs).toBeGreaterThanOrEqual(0);
    expect(rows[1]!.responseTimeMs).toBeLessThan(Date.now() - startedAt + 1000);
    expect(rows[0]!.createdAt.getTime()).toBeLessThan(rows[1]!.createdAt.getTime());
  });

  it('on PostgreSQL the batches go through a connection of their own, which stays warm', async (ctx) => {
    if (gw.deps.database.kind !== 'postgres') ctx.skip();
    const writerSessions = async () => {
      const rows = await queryRows<{ n: number }>(
        gw.deps.database.db,
        sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'lyss-usage'`,
      );
      return rows[0]!.n;
    };
    for (let i = 0; i < 3; i++) {
      const { response } = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `warm ${i}` }] }).withResponse();
      const id = response.headers.get('x-lyss-conversation-id')!;
      await written(async () => expect(await conversationRow(gw, acme, id)).not.toBeNull());
      expect(await writerSessions()).toBe(1);
    }
  });

  it('conversation and message ids are time-ordered (UUIDv7), so new rows land at the end of their indexes', async () => {
    const startedAt = Date.now();
    const { response } = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ordered' }] }).withResponse();
    const conversationId = response.headers.get('x-lyss-conversation-id')!;
    const rows = await written(async () => {
      const found = await messageRows(gw, acme, conversationId);
      expect(found).toHaveLength(2);
      return found;
    });
    // The first 48 bits are the creation time in milliseconds; the version digit is 7.
    const millis = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    for (const id of [conversationId, ...rows.map((r) => r.id)]) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(millis(id)).toBeGreaterThanOrEqual(startedAt - 1_000);
      expect(millis(id)).toBeLessThanOrEqual(Date.now() + 1_000);
    }
  });

  it('a conversation continues before its first record is written, and only for its own user', async () => {
    const first = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'What is the capital of France?' }] }).withResponse();
    const id = first.response.headers.get('x-lyss-conversation-id')!;
    // The flush timer is off: the first answer's record is queued, its conversation row not written yet.
    expect(await conversationRow(gw, acme, id)).toBeNull();
    const withId = (key: string) => sdk(gw, key, { defaultHeaders: { 'x-lyss-conversation-id': id } });
    const followUp = [
      { role: 'user' as const, content: 'What is the capital of France?' },
      { role: 'assistant' as const, content: DEFAULT_REPLY },
      { role: 'user' as const, content: 'And of Italy?' },
    ];
    await expectApiError(withId(QUIET).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }), { status: 404, type: 'invalid_request_error', code: 'conversation_not_found' });
    const second = await withId(TEST_TOKEN).chat.completions.create({ model: 'gpt-4o-mini', messages: followUp }).withResponse();
    expect(second.response.headers.get('x-lyss-conversation-id')).toBe(id);
    const conversation = await written(async () => {
      const row = await conversationRow(gw, acme, id);
      expect(row?.messageCount).toBe(4);
      return row!;
    });
    expect(conversation.title).toBe('What is the capital of France?');
  });

  it('a conversation deleted while a request continues it stays deleted: the late record adds only its spend', async () => {
    const first = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Keep this short' }] }).withResponse();
    const id = first.response.headers.get('x-lyss-conversation-id')!;
    await written(async () => expect(await conversationRow(gw, acme, id)).not.toBeNull());
    const before = await spend();
    // Answered and queued (the flush timer is off), then the conversation is deleted before the record is written.
    await sdk(gw, TEST_TOKEN, { defaultHeaders: { 'x-lyss-conversation-id': id } }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: 'Keep this short' },
        { role: 'assistant', content: DEFAULT_REPLY },
        { role: 'user', content: 'A late question' },
      ],
    });
    await inTenant(gw, acme, (tx) => tx.delete(chatConversations).where(eq(chatConversations.id, id)));
    const after = await spend();
    expect(after.token - before.token).toBe(19);
    expect(await conversationRow(gw, acme, id)).toBeNull();
    expect(await messagesWithoutTheirConversation(acme)).toBe(0);

    // A record that starts a conversation still creates it, even beside a continuing one in the same batch.
    const fresh = crypto.randomUUID();
    const conversation = (existed: boolean) => ({ id: fresh, existed, title: 'fresh', systemPrompt: null, messageCount: 1, messages: [{ role: 'user' as const, content: 'x', tokenCount: 1 }] });
    await writeUsageBatch(gw.deps.database.usageWriter, [await ciRecord(2, conversation(true))]);
    expect(await conversationRow(gw, acme, fresh)).toBeNull();
    await writeUsageBatch(gw.deps.database.usageWriter, [await ciRecord(2, conversation(false)), await ciRecord(2, conversation(true))]);
    expect(await conversationRow(gw, acme, fresh)).toMatchObject({ messageCount: 2 });
  });

  it('a conversation continues while its first answer is still streaming', async () => {
    upstream.script(() => ({ kind: 'reply', chunkDelayMs: 100 }));
    const first = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Stream it slowly' }], stream: true }).withResponse();
    const id = first.response.headers.get('x-lyss-conversation-id')!;
    const followUp = await sdk(gw, TEST_TOKEN, { defaultHeaders: { 'x-lyss-conversation-id': id } })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Meanwhile, another question' }] })
      .withResponse();
    expect(followUp.response.headers.get('x-lyss-conversation-id')).toBe(id);
    // The follow-up's record is written first, in a batch of its own: its conversation row does not exist yet,
    // and the record must create it (the row had never been stored; nothing was deleted).
    await gw.deps.relay.usage.flush();
    expect((await conversationRow(gw, acme, id))?.messageCount).toBe(2);
    let streamed = '';
    for await (const chunk of first.data) streamed += chunk.choices[0]?.delta?.content ?? '';
    expect(streamed).toBe(DEFAULT_REPLY);
    await written(async () => expect((await conversationRow(gw, acme, id))?.messageCount).toBe(4));
  });

  it('a stream whose client did not ask for usage is billed with the usage the upstream reported', async () => {
    upstream.script(() => ({ kind: 'reply', usage: { prompt: 21, completion: 13 } }));
    const before = await spend();
    const { data, response } = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream it' }], stream: true }).withResponse();
    for await (const _ of data);
    const conversationId = response.headers.get('x-lyss-conversation-id')!;
    const rows = await written(async () => {
      const r = await messageRows(gw, acme, conversationId);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[1]).toMatchObject({ role: 'assistant', content: DEFAULT_REPLY, tokenCount: 13 });
    expect((await spend()).token - before.token).toBe(34);
    expect((await conversationRow(gw, acme, conversationId))!.tokenUsage).toBe(34);
  });

  it('an upstream that reports no usage is billed with the local tokenizer', async () => {
    upstream.script(() => ({ kind: 'reply', usage: null, content: 'Counting tokens locally, one by one.' }));
    const messages = [{ role: 'user' as const, content: 'How many tokens is this prompt?' }];
    const expected = countChatPrompt(messages) + countText('Counting tokens locally, one by one.');
    for (const stream of [false, true]) {
      const before = await spend();
      if (stream) for await (const _ of await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }));
      else await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages });
      await written(async () => expect((await tokenRow(gw, acme, 'ci')).usedQuota - before.token).toBe(expected));
    }
  });

  it('only the messages after the last assistant turn are new; the title is cut at 100 characters', async () => {
    const long = `${'word '.repeat(40)}end`;
    const { response } = await sdk(gw)
      .chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'user', content: [{ type: 'text', text: long }] },
          { role: 'assistant', content: 'earlier answer' },
          { role: 'user', content: 'follow-up question' },
        ],
      })
      .withResponse();
    const id = response.headers.get('x-lyss-conversation-id')!;
    const rows = await written(async () => {
      const r = await messageRows(gw, acme, id);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows.map((r) => [r.role, r.content])).toEqual([
      ['user', 'follow-up question'],
      ['assistant', DEFAULT_REPLY],
    ]);
    const conversation = (await conversationRow(gw, acme, id))!;
    expect(conversation.title).toHaveLength(100);
    expect(conversation.title.endsWith('…')).toBe(true);
    expect(long.startsWith(conversation.title.slice(0, 99))).toBe(true);
  });

  it('store_content=false: counters recorded, no message rows, nothing of the content anywhere', async () => {
    const before = await spend(quiet);
    const secret = 'my bank password is hunter2';
    const { response } = await sdk(gw, QUIET)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: `system: ${secret}` }, { role: 'user', content: secret }] })
      .withResponse();
    const id = response.headers.get('x-lyss-conversation-id')!;
    const conversation = await written(async () => {
      const row = await conversationRow(gw, quiet, id);
      expect(row).not.toBeNull();
      return row!;
    });
    expect(conversation.messageCount).toBe(2);
    expect(conversation.tokenUsage).toBe(19);
    expect(JSON.stringify(conversation)).not.toContain('hunter2');
    expect(await messageRows(gw, quiet, id)).toEqual([]);
    expect((await spend(quiet)).token - before.token).toBe(19);
    // The other tenant's batch, written in the same transaction, still stores content.
    expect(await inTenant(gw, quiet, (tx) => tx.select().from(chatMessages))).toEqual([]);
  });

  it('a record whose channel was deleted before the batch was written still lands (conversation without a channel)', async () => {
    const pendingBefore = gw.deps.relay.usage.pending;
    const { response } = await sdk(gw).chat.completions.create({ model: 'doomed-model', messages: [{ role: 'user', content: 'last words' }] }).withResponse();
    const id = response.headers.get('x-lyss-conversation-id')!;
    await eventually(async () => expect(gw.deps.relay.usage.pending).toBeGreaterThan(pendingBefore));
    const before = (await tokenRow(gw, acme, 'ci')).usedQuota;
    await inTenant(gw, acme, (tx) => tx.delete(providerChannels).where(eq(providerChannels.name, 'doomed')));
    await gw.deps.relay.usage.flush();
    expect(gw.deps.relay.usage.pending).toBe(0);
    expect((await tokenRow(gw, acme, 'ci')).usedQuota - before).toBe(19);
    const conversation = (await conversationRow(gw, acme, id))!;
    expect(conversation.providerChannelId).toBeNull();
    expect(await messageRows(gw, acme, id)).toHaveLength(2);
  });

  it('content the database cannot store as is (NUL characters, over-long ids) does not jam the writer', async () => {
    const longId = `call_${'x'.repeat(150)}`;
    const { response } = await sdk(gw)
      .chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'user', content: 'nul \u0000 inside' },
          { role: 'assistant', content: null, tool_calls: [{ id: longId, type: 'function', function: { name: 'f', arguments: '{"a":"\u0000"}' } }] },
          { role: 'tool', tool_call_id: longId, content: 'result \u0000 here' },
        ],
      })
      .withResponse();
    const id = response.headers.get('x-lyss-conversation-id')!;
    const rows = await written(async () => {
      const r = await messageRows(gw, acme, id);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[0]!.role).toBe('tool');
    expect(rows[0]!.content).toBe('result  here');
    expect(gw.deps.relay.usage.pending).toBe(0);
  });

  it('half surrogate pairs (a client may send them) are stored as U+FFFD, with every message', async () => {
    const conversationId = crypto.randomUUID();
    const record = await ciRecord(3, {
      id: conversationId,
      title: 'half \ud83d',
      systemPrompt: 'sys \udc00',
      messageCount: 2,
      messages: [
        { role: 'user', content: 'lone \ud83d here', tokenCount: 1 },
        { role: 'assistant', content: 'ok', tokenCount: 1, toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":"\udc00"}' } }] },
      ],
    });
    await writeUsageBatch(gw.deps.database.usageWriter, [record]);
    const rows = await messageRows(gw, acme, conversationId);
    expect(rows.map((r) => r.content)).toEqual(['lone \ufffd here', 'ok']);
    expect(rows[1]!.toolCalls).toEqual([{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":"\ufffd"}' } }]);
    expect(await conversationRow(gw, acme, conversationId)).toMatchObject({ title: 'half \ufffd', systemPrompt: 'sys \ufffd' });
  });

  it('texts reach their rows unchanged, in every tenant of a batch, whatever an array literal would have to quote', async () => {
    // The batch's texts travel as one text[] beside its json: its distinct prompts, then its contents (drizzle/0010, 0011).
    const tricky = ['', 'NULL', '"quoted", {braced}', 'back\\slash \\" \\\\', ' padded\t\n', 'línea\r\n🚀 漢字', '{"a":[1,2]}'];
    const longPrompt = `${'Answer briefly, "quote" \\ {cite}. '.repeat(600)}end`;
    const conversation = (systemPrompt: string | null, contents: string[]) => ({
      id: crypto.randomUUID(),
      title: 'texts',
      systemPrompt,
      messageCount: contents.length,
      messages: contents.map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content, tokenCount: 1 })),
    });
    const quietToken = await tokenRow(gw, quiet, 'ci');
    const quietChannel = await channelRow(gw, quiet, 'openai-main');
    const inQuiet = (r: UsageRecord): UsageRecord => ({ ...r, tenantId: quiet, tokenId: quietToken.id, userId: quietToken.userId, channelId: quietChannel.id });
    // A prompt resent (an equal text, not the same string) goes once per batch; more distinct prompts than
    // the writer compares against go as they come.
    const resent = (prompt: string) => [...prompt].join('');
    const records = [
      await ciRecord(3, conversation(null, [])),
      await ciRecord(3, conversation(longPrompt, tricky)),
      inQuiet(await ciRecord(3, conversation(resent(longPrompt), ['q1', 'q2']))),
      inQuiet(await ciRecord(3, conversation(null, ['q3']))),
      await ciRecord(3, conversation('short', ['c1'])),
      await ciRecord(3, conversation(resent(longPrompt), ['again'])),
      ...(await Promise.all(Array.from({ length: 12 }, (_, i) => ciRecord(3, conversation(`prompt ${i % 10}`, [`m${i}`]))))),
      await ciRecord(3, conversation(resent(longPrompt), ['last'])),
    ];
    // Rows that leave no texts or no row of their own, between the others: spend only, a user deleted since
    // (its conversation and messages are dropped in SQL), one conversation over two records.
    const spendOnly = { ...(await ciRecord(3, conversation(null, []))), conversation: null };
    const orphan = { ...(await ciRecord(3, conversation('orphaned', ['o1']))), userId: crypto.randomUUID() };
    const first = await ciRecord(3, conversation('first prompt', ['f1', 'f2']));
    const second = await ciRecord(3, { ...conversation('second prompt', ['s1']), id: first.conversation!.id });
    second.at = new Date(Date.parse(first.at) + 1000).toISOString();
    await writeUsageBatch(gw.deps.database.usageWriter, [...records.slice(0, 3), spendOnly, orphan, second, ...records.slice(3), first]);
    for (const r of records) {
      const c = r.conversation!;
      expect((await messageRows(gw, r.tenantId, c.id)).map((m) => m.content)).toEqual(c.messages.map((m) => m.content));
      expect((await conversationRow(gw, r.tenantId, c.id))!.systemPrompt).toBe(c.systemPrompt);
    }
    expect(await conversationRow(gw, acme, orphan.conversation!.id)).toBeNull();
    expect(await messageRows(gw, acme, orphan.conversation!.id)).toEqual([]);
    expect((await messageRows(gw, acme, first.conversation!.id)).map((m) => m.content)).toEqual(['f1', 'f2', 's1']);
    expect((await conversationRow(gw, acme, first.conversation!.id))!.systemPrompt).toBe('second prompt');
  });

  it('a batch whose texts do not match its rows is refused as a data error, not written askew', async () => {
    const db = gw.deps.database.usageWriter;
    const at = new Date().toISOString();
    const message = { tenant: acme, conversation_id: crypto.randomUUID(), role: 'user', token_count: 1, created_at: at };
    const batch = { tokens: [], channels: [], conversations: [], messages: [message], contents_from: 1 };
    const call = (b: object, texts: string[]) => db.execute(sql`select lyss_write_usage(${JSON.stringify(b)}::json, ${sql.param(texts)}::text[])`);
    await expect(call(batch, ['a message'])).resolves.toBeDefined();
    const refused = async (b: object, texts: string[]) => expect(isDataError(await call(b, texts).catch((err: unknown) => err))).toBe(true);
    // One message, no content for it; one message, two contents.
    await refused(batch, []);
    await refused(batch, ['a message', 'another']);
    // A conversation naming a second prompt where the batch has one.
    const conversation = { id: crypto.randomUUID(), tenant_id: acme, user_id: (await tokenRow(gw, acme, 'ci')).userId, title: 't', model_name: 'm', prompt: 2, message_count: 0, token_usage: 0, at };
    await refused({ ...batch, conversations: [conversation], messages: [], contents_from: 2 }, ['a prompt']);
  });

  it('the token of a user deleted before the batch was written does not jam the writer', async () => {
    const key = 'lyss-gone-0123456789abcdef0123456789abcde';
    await gw.apply({
      tenants: [{ slug: 'acme', name: 'Acme', users: [{ email: 'gone@acme.test', password: 'a long passphrase', role: 'end_user' }], tokens: [{ name: 'gone', user: 'gone@acme.test', key, rate_limit: 1000 }] }],
    });
    const pendingBefore = gw.deps.relay.usage.pending;
    await sdk(gw, key).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'bye' }] });
    await eventually(async () => expect(gw.deps.relay.usage.pending).toBeGreaterThan(pendingBefore));
    await inTenant(gw, acme, (tx) => tx.delete(authUsers).where(eq(authUsers.email, 'gone@acme.test')));
    const before = await spend().catch(() => null);
    expect(before).not.toBeNull();
    expect(gw.deps.relay.usage.pending).toBe(0);
    // Later records are written as usual.
    const r = await sdk(gw, TEST_TOKEN).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still here' }] });
    expect(r.choices).toHaveLength(1);
    await written(async () => expect((await tokenRow(gw, acme, 'ci')).usedQuota - before!.token).toBe(19));
  });
});

describe('usage batches written at once by two processes', () => {
  // On PostgreSQL the two writers run in two transactions at once: without one order across tenants they
  // deadlock on every run. (Rows within a tenant are locked in id order as well; a test cannot make those
  // collide reliably.) PGlite has one session and runs them one after the other: the counting is checked.
  it("a record never reaches another tenant's rows: the batch is written under each record's own tenant", async () => {
    const own = await tokenRow(gw, acme, 'ci');
    const other = await tokenRow(gw, quiet, 'ci');
    const otherChannel = await channelRow(gw, quiet, 'openai-main');
    const before = { token: other.usedQuota, channel: otherChannel.usedQuota };
    // Filed under acme, pointing at quiet's token and channel, as a bug in the relay might.
    const stray: UsageRecord = {
      tenantId: acme,
      tokenId: other.id,
      userId: own.userId,
      channelId: otherChannel.id,
      cost: 7,
      promptTokens: 5,
      completionTokens: 2,
      model: 'gpt-4o-mini',
      at: new Date().toISOString(),
      conversation: { id: crypto.randomUUID(), title: 'stray', systemPrompt: null, messageCount: 1, messages: [{ role: 'user', content: 'stray', tokenCount: 1 }] },
    };
    // Beside it in the batch: quiet's own record on the same token and channel, which must not merge with it,
    // and one filed under acme for quiet's user.
    const theirs: UsageRecord = { ...stray, tenantId: quiet, userId: other.userId, cost: 4, conversation: null };
    const strayUser: UsageRecord = {
      ...stray,
      tokenId: own.id,
      userId: other.userId,
      channelId: (await channelRow(gw, acme, 'openai-main')).id,
      cost: 1,
      conversation: { ...stray.conversation!, id: crypto.randomUUID() },
    };
    await writeUsageBatch(gw.deps.database.db, [stray, theirs, strayUser]);
    expect((await tokenRow(gw, quiet, 'ci')).usedQuota).toBe(before.token + 4);
    expect((await channelRow(gw, quiet, 'openai-main')).usedQuota).toBe(before.channel + 4);
    // The conversation is acme's (its user is acme's), without the channel it could not see.
    const conversation = await conversationRow(gw, acme, stray.conversation!.id);
    expect(conversation).toMatchObject({ tenantId: acme, providerChannelId: null, messageCount: 1 });
    // A user of another tenant gets no conversation in either.
    expect(await conversationRow(gw, acme, strayUser.conversation!.id)).toBeNull();
    expect(await conversationRow(gw, quiet, strayUser.conversation!.id)).toBeNull();
  });

  it("a record naming another tenant's conversation leaves it untouched, and the rest of its batch lands", async () => {
    const quietToken = await tokenRow(gw, quiet, 'ci');
    const quietChannel = await channelRow(gw, quiet, 'openai-main');
    const theirs = crypto.randomUUID();
    const conversation = (id: string, content: string) => ({ id, title: content, systemPrompt: null, messageCount: 1, messages: [{ role: 'user', content, tokenCount: 1 }] });
    const quietRecord = await ciRecord(5, conversation(theirs, 'quiet question'));
    await writeUsageBatch(gw.deps.database.usageWriter, [{ ...quietRecord, tenantId: quiet, tokenId: quietToken.id, userId: quietToken.userId, channelId: quietChannel.id }]);
    const before = { spend: await spend(), theirs: await conversationRow(gw, quiet, theirs) };
    const own = await ciRecord(2, conversation(crypto.randomUUID(), 'own question'));
    // Filed under acme with quiet's conversation id, as a bug in the relay might.
    const stray = await ciRecord(3, conversation(theirs, 'stray'));
    await writeUsageBatch(gw.deps.database.usageWriter, [own, stray]);
    expect(await conversationRow(gw, quiet, theirs)).toEqual(before.theirs);
    expect((await messageRows(gw, quiet, theirs)).map((m) => m.content)).toEqual(['quiet question']);
    expect(await messageRows(gw, acme, theirs)).toEqual([]);
    // The stray record still pays; the record beside it is written whole.
    expect(await spend()).toEqual({ token: before.spend.token + 5, channel: before.spend.channel + 5 });
    expect((await messageRows(gw, acme, own.conversation!.id)).map((m) => m.content)).toEqual(['own question']);

    // One id under both tenants in one batch: the upsert cannot touch a row twice, so the recorder writes the
    // batch record by record, and the id stays with the tenant that wrote it first.
    const shared = crypto.randomUUID();
    const quietAgain = await ciRecord(6, conversation(shared, 'quiet again'));
    gw.deps.relay.usage.enqueue({ ...quietAgain, tenantId: quiet, tokenId: quietToken.id, userId: quietToken.userId, channelId: quietChannel.id });
    gw.deps.relay.usage.enqueue(await ciRecord(1, conversation(shared, 'stray again')));
    await gw.deps.relay.usage.flush();
    expect(gw.deps.relay.usage.pending).toBe(0);
    expect((await messageRows(gw, quiet, shared)).map((m) => m.content)).toEqual(['quiet again']);
    expect(await conversationRow(gw, acme, shared)).toBeNull();
    expect(await spend()).toEqual({ token: before.spend.token + 6, channel: before.spend.channel + 6 });

    // The owner's record and a stray one for the same id in one batch: the stray's row dropped (a user of another
    // tenant), or refused by the owner's existing conversation. Its messages reach no conversation either way.
    const quietOwn = async (id: string, content: string) => ({ ...(await ciRecord(1, conversation(id, content))), tenantId: quiet, tokenId: quietToken.id, userId: quietToken.userId, channelId: quietChannel.id });
    const fresh = crypto.randomUUID();
    await writeUsageBatch(gw.deps.database.usageWriter, [await quietOwn(fresh, 'owner'), { ...(await ciRecord(1, conversation(fresh, 'stray, foreign user'))), userId: quietToken.userId }]);
    expect((await messageRows(gw, quiet, fresh)).map((m) => m.content)).toEqual(['owner']);
    for (let i = 0; i < 6; i++) {
      const id = crypto.randomUUID();
      await writeUsageBatch(gw.deps.database.usageWriter, [await quietOwn(id, 'first')]);
      const stray = await ciRecord(1, conversation(id, 'stray beside the owner'));
      const owner = await quietOwn(id, 'second');
      for (const r of i % 2 ? [stray, owner] : [owner, stray]) gw.deps.relay.usage.enqueue(r);
      await gw.deps.relay.usage.flush();
      expect((await messageRows(gw, quiet, id)).map((m) => m.content)).toEqual(['first', 'second']);
    }
    expect(gw.deps.relay.usage.pending).toBe(0);
    for (const tenant of [acme, quiet]) expect(await messagesWithoutTheirConversation(tenant)).toBe(0);
  });

  it("a batch reads existing rows by key: its cost does not grow with the tenant's conversations", async () => {
    const token = await tokenRow(gw, acme, 'ci');
    const channel = await channelRow(gw, acme, 'openai-main');
    const record = (): UsageRecord => ({
      tenantId: acme,
      tokenId: token.id,
      userId: token.userId,
      channelId: channel.id,
      cost: 1,
      promptTokens: 1,
      completionTokens: 0,
      model: 'gpt-4o-mini',
      at: new Date().toISOString(),
      conversation: {
        id: crypto.randomUUID(),
        title: 'volume',
        systemPrompt: null,
        messageCount: 2,
        messages: [
          { role: 'user', content: 'q', tokenCount: 1 },
          { role: 'assistant', content: 'a', tokenCount: 1 },
        ],
      },
    });
    await writeUsageBatch(gw.deps.database.db, Array.from({ length: 400 }, record));
    // Rows of chat_conversations the small batch read: its own key lookups (upsert, foreign keys), not the
    // tenant's 400+ conversations (which the planner, without statistics, once hashed against every batch).
    // The backend's pending counters (pg_stat_xact_*) also hold earlier transactions not flushed yet: a delta.
    const read = await gw.deps.database.db.transaction(async (tx) => {
      const counted = async () => {
        const [row] = await queryRows<{ n: number }>(
          tx,
          sql`select (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int as n from pg_stat_xact_user_tables where relname = 'chat_conversations'`,
        );
        return row?.n ?? 0;
      };
      const before = await counted();
      await writeUsageBatch(tx, [record(), record()]);
      return (await counted()) - before;
    });
    expect(read).toBeLessThan(40);
  });

  it("a conversation's settings and status follow its latest request, never a record older than its last change", async () => {
    const conversationId = crypto.randomUUID();
    const conversation = (temperature: number | null, maxTokens: number | null) => ({ id: conversationId, title: 'settings', systemPrompt: null, temperature, maxTokens, messageCount: 1, messages: [{ role: 'user', content: 'x', tokenCount: 1 }] });
    const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    const writer = gw.deps.database.usageWriter;
    // A temperature too small for a real column (PostgreSQL would refuse 1e-50 and fail the batch) is kept as 0.
    await writeUsageBatch(writer, [{ ...(await ciRecord(2, conversation(1e-50, 30))), at: at(60_000) }]);
    expect(await conversationRow(gw, acme, conversationId)).toMatchObject({ temperature: 0, maxTokens: 30, messageCount: 1 });
    await inTenant(gw, acme, (tx) => tx.update(chatConversations).set({ status: 'archived', updatedAt: new Date(Date.now() - 30_000) }).where(eq(chatConversations.id, conversationId)));
    // A backlog record of a request from before the archiving: counted, but it neither unarchives nor changes the settings.
    await writeUsageBatch(writer, [{ ...(await ciRecord(2, conversation(0.9, 99))), at: at(45_000) }]);
    expect(await conversationRow(gw, acme, conversationId)).toMatchObject({ status: 'archived', temperature: 0, maxTokens: 30, messageCount: 2 });
    // A request after it: active again, with its settings.
    await writeUsageBatch(writer, [{ ...(await ciRecord(2, conversation(0.5, null))), at: at(0) }]);
    expect(await conversationRow(gw, acme, conversationId)).toMatchObject({ status: 'active', temperature: 0.5, maxTokens: null, messageCount: 3 });
  });

  it('a batch written again under the same id (a retry after a lost reply) changes nothing', async () => {
    const conversationId = crypto.randomUUID();
    const record = await ciRecord(11, { id: conversationId, title: 'twice', systemPrompt: null, messageCount: 1, messages: [{ role: 'user', content: 'once', tokenCount: 1 }] });
    const before = await spend();
    const batchId = newBatchId();
    await writeUsageBatch(gw.deps.database.usageWriter, [record], batchId);
    await writeUsageBatch(gw.deps.database.usageWriter, [record], batchId);
    expect(await spend()).toEqual({ token: before.token + 11, channel: before.channel + 11 });
    expect(await messageRows(gw, acme, conversationId)).toHaveLength(1);
    expect(await conversationRow(gw, acme, conversationId)).toMatchObject({ messageCount: 1, tokenUsage: 11 });
    // Another id is another batch.
    await writeUsageBatch(gw.deps.database.usageWriter, [record], newBatchId());
    expect(await spend()).toEqual({ token: before.token + 22, channel: before.channel + 22 });
    expect(await messageRows(gw, acme, conversationId)).toHaveLength(2);
  });

  it.runIf(process.env.DATABASE_URL)('on PostgreSQL the writer sends its batch prepared: one round trip a batch, not a describe first', async () => {
    const record = await ciRecord(3, { id: crypto.randomUUID(), title: 'prepared', systemPrompt: null, messageCount: 1, messages: [{ role: 'user', content: 'x', tokenCount: 1 }] });
    await writeUsageBatch(gw.deps.database.usageWriter, [record]);
    const writer = postgresClientOf(gw.deps.database.usageWriter);
    // pg_prepared_statements lists the session's own: the writer has one connection.
    const prepared = await writer!<{ statement: string }[]>`select statement from pg_prepared_statements`;
    expect(prepared.map((p) => p.statement)).toContain('select lyss_write_usage($1::uuid, $2::json, $3::text[])');
  });

  it('tokens and channels of two tenants, listed in opposite orders: no deadlock, every unit counted', async () => {
    await gw.apply({
      tenants: [{ slug: 'acme', name: 'Acme', tokens: ['lock-a', 'lock-b', 'lock-c'].map((name, i) => ({ name, user: 'dev@acme.test', key: `lyss-${name}-${String(i).repeat(32)}`, rate_limit: 1000 })) }],
    });
    type Owner = Pick<UsageRecord, 'tenantId' | 'tokenId' | 'userId' | 'channelId'> & { token: string };
    const owners: Owner[] = [];
    for (const [tenantId, token] of [[acme, 'lock-a'], [acme, 'lock-b'], [acme, 'lock-c'], [quiet, 'ci']] as const) {
      const row = await tokenRow(gw, tenantId, token);
      owners.push({ tenantId, tokenId: row.id, userId: row.userId, channelId: (await channelRow(gw, tenantId, 'openai-main')).id, token });
    }
    const spent = () => Promise.all(owners.map(async (o) => [(await tokenRow(gw, o.tenantId, o.token)).usedQuota, (await channelRow(gw, o.tenantId, 'openai-main')).usedQuota]));
    const before = await spent();
    const rounds = 20;
    for (let i = 0; i < rounds; i++) {
      const batch: UsageRecord[] = owners.map(({ token: _, ...o }) => ({ ...o, cost: 1, promptTokens: 1, completionTokens: 0, model: 'gpt-4o-mini', at: new Date().toISOString(), conversation: null }));
      // Two transactions on two connections of the pool, as two gateway processes flushing at once.
      await Promise.all([writeUsageBatch(gw.deps.database.db, batch), writeUsageBatch(gw.deps.database.db, [...batch].reverse())]);
    }
    const after = await spent();
    // Each token paid for one record in each batch; acme's channel for three, quiet's for one.
    expect(after.map(([t, c], i) => [t! - before[i]![0]!, c! - before[i]![1]!])).toEqual([
      [rounds * 2, rounds * 6],
      [rounds * 2, rounds * 6],
      [rounds * 2, rounds * 6],
      [rounds * 2, rounds * 2],
    ]);
  });
});
