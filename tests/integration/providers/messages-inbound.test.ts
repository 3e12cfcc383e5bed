/**
 * Inbound POST /v1/messages: the official @anthropic-ai/sdk calls the gateway with a Lyss token, and the
 * request is served by an OpenAI-format channel (translated), an Azure channel (translated) or an Anthropic
 * channel (passed through), always answered in Anthropic's format.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { ANTHROPIC_DEFAULT_TEXT, ANTHROPIC_DEFAULT_USAGE, AZURE_DEFAULT_TEXT, startMockProviders, type MockProviders } from '../../helpers/mock-providers.js';
import { anthropicMessage, anthropicSse, type AnthropicFixture } from '../../helpers/anthropic-wire.js';
import { conversationMessages, conversationRow, quiesce, tokenUsedQuota } from './db.js';
import { countChatPrompt, countText } from '../../../src/relay/tokenize.js';
import { chatRequestSchema, parseRequest } from '../../../src/relay/chat-request.js';
import { anthropicToOpenAIRequest } from '../../../src/relay/adapters/anthropic/inbound.js';

let openaiUp: MockUpstream;
let providers: MockProviders;
let gw: TestGateway;
let client: Anthropic;

const CLAUDE = 'claude-sonnet-4-5-20250929';

beforeAll(async () => {
  openaiUp = await startMockUpstream();
  providers = await startMockProviders();
  const common = { weight: 1, rate_limit: 100000, quota: -1, scope: 'tenant' };
  gw = await startGateway({
    env: { LYSS_COOLDOWN_FAILURES: '1000' },
    config: basicConfig(openaiUp.url, {
      channels: [
        { ...common, name: 'openai-main', type: 'openai', base_url: openaiUp.url, key: 'sk-openai-main', models: ['gpt-4o-mini'], priority: 10 },
        { ...common, name: 'deepseek', type: 'deepseek', base_url: openaiUp.url, key: 'sk-deepseek', models: ['deepseek-chat'], priority: 10 },
        { ...common, name: 'azure-east', type: 'azure-openai', base_url: providers.url, key: 'az-key', models: ['gpt-4o'], model_mapping: { 'gpt-4o': 'prod-gpt4o' }, priority: 10 },
        { ...common, name: 'claude-main', type: 'anthropic', base_url: providers.url, key: 'sk-ant-main', models: ['claude-sonnet'], model_mapping: { 'claude-sonnet': CLAUDE }, priority: 10 },
        { ...common, name: 'claude-backup', type: 'anthropic', base_url: providers.url, key: 'sk-ant-backup', models: ['claude-sonnet'], model_mapping: { 'claude-sonnet': CLAUDE }, priority: 5 },
      ],
    }),
  });
  client = new Anthropic({ baseURL: gw.url, apiKey: TEST_TOKEN, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.close();
  await providers?.close();
  await openaiUp?.close();
});
beforeEach(() => {
  openaiUp.requests.length = 0;
  openaiUp.script(null);
  providers.requests.length = 0;
  providers.script(null);
});

/** A raw call, to see exactly what the gateway wrote. */
async function raw(body: Record<string, unknown>, headers: Record<string, string> = { 'x-api-key': TEST_TOKEN }): Promise<Response> {
  return fetch(`${gw.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify(body),
  });
}

/** Parses SSE text into [event, data] pairs. */
function events(text: string): [string, any][] {
  return text
    .split('\n\n')
    .filter((f) => f.trim() !== '')
    .map((f) => {
      const event = /^event: (.*)$/m.exec(f)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(f)?.[1] ?? 'null';
      return [event, JSON.parse(data)];
    });
}

/** Anthropic's documented stream grammar, with the event name equal to data.type everywhere. */
function expectAnthropicOrder(evs: [string, any][]): void {
  for (const [name, data] of evs) expect(data.type).toBe(name);
  const names = evs.map(([n]) => n).filter((n) => n !== 'ping');
  expect(names[0]).toBe('message_start');
  expect(names.slice(-2)).toEqual(['message_delta', 'message_stop']);
  let open: number | null = null;
  for (const [name, data] of evs.slice(1, -2)) {
    if (name === 'content_block_start') {
      expect(open).toBeNull();
      open = data.index;
    } else if (name === 'content_block_delta') expect(data.index).toBe(open);
    else if (name === 'content_block_stop') {
      expect(data.index).toBe(open);
      open = null;
    } else expect(name).toBe('ping');
  }
  expect(open).toBeNull();
}

describe('to an OpenAI-format channel', () => {
  it('answers a Message, translated both ways', async () => {
    const msg = await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 256,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi' }],
      stop_sequences: ['END'],
    });
    expect(msg.type).toBe('message');
    expect(msg.role).toBe('assistant');
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.model).toBe('gpt-4o-mini');
    expect(msg.content).toEqual([{ type: 'text', text: DEFAULT_REPLY, citations: null }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage).toMatchObject({ input_tokens: 12, output_tokens: 7 });

    const up = openaiUp.requests.at(-1)!;
    expect(up.path).toBe('/v1/chat/completions');
    expect(up.headers.authorization).toBe('Bearer sk-openai-main');
    expect(up.body).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      // OpenAI itself: reasoning models refuse max_tokens.
      max_completion_tokens: 256,
      stop: ['END'],
    });
    expect(up.body.max_tokens).toBeUndefined();
  });

  it('sends max_tokens to OpenAI-compatible vendors', async () => {
    await client.messages.create({ model: 'deepseek-chat', max_tokens: 99, messages: [{ role: 'user', content: 'Hi' }] });
    expect(openaiUp.requests.at(-1)!.body).toMatchObject({ model: 'deepseek-chat', max_tokens: 99 });
    // Sampling fields of older API versions (the current SDK types no longer have them) still translate.
    const res = await raw({ model: 'deepseek-chat', max_tokens: 5, temperature: 0.5, top_p: 0.9, messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(200);
    expect(openaiUp.requests.at(-1)!.body).toMatchObject({ temperature: 0.5, top_p: 0.9, max_tokens: 5 });
  });

  it('accepts the token as x-api-key or Bearer, and the SDK-default anthropic-version', async () => {
    const bearer = new Anthropic({ baseURL: gw.url, apiKey: null, authToken: TEST_TOKEN, maxRetries: 0 });
    const msg = await bearer.messages.create({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg.content[0]).toMatchObject({ type: 'text', text: DEFAULT_REPLY });
    const res = await raw({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }, { 'x-api-key': TEST_TOKEN, 'anthropic-version': '2026-10-21' });
    expect(res.status).toBe(200);
    expect(res.headers.get('request-id')).toBeTruthy();
  });

  it('streams in Anthropic event order, and the SDK assembles the Message', async () => {
    const res = await raw({ model: 'gpt-4o-mini', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const evs = events(await res.text());
    expectAnthropicOrder(evs);
    expect(evs.map(([n]) => n)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      ...Array(evs.length - 6).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(evs.at(-2)![1]).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 12, output_tokens: 7 } });
    // The gateway asked the OpenAI upstream for usage, which Anthropic streams always report.
    expect(openaiUp.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });

    const final = await client.messages.stream({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    expect(final.content).toMatchObject([{ type: 'text', text: DEFAULT_REPLY }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 7 });
  });

  it('sizes message_start by the gateway\'s prompt count, and message_delta by its own count when the upstream reports no usage', async () => {
    const body = { model: 'gpt-4o-mini', max_tokens: 64, stream: true, system: 'Be brief.', messages: [{ role: 'user', content: 'Hi there' }] };
    const counted = countChatPrompt(parseRequest(chatRequestSchema, anthropicToOpenAIRequest(body)).messages);
    openaiUp.script(() => ({ kind: 'reply', content: 'Hello, friend.', usage: null }));
    const evs = events(await (await raw(body)).text());
    expect(evs[0]![1].message.usage).toMatchObject({ input_tokens: counted });
    expect(evs.at(-2)![1].usage).toMatchObject({ input_tokens: counted, output_tokens: countText('Hello, friend.') });
  });

  it('does tool use, streamed and not, and carries tool results back', async () => {
    openaiUp.script(() => ({ kind: 'reply', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }] }));
    const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
    const msg = await client.messages.create({ model: 'gpt-4o-mini', max_tokens: 64, tools, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'Weather in Paris?' }] });
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content).toEqual([{ type: 'tool_use', id: 'call_0', name: 'get_weather', input: { city: 'Paris' }, caller: { type: 'direct' } }]);
    expect(openaiUp.requests.at(-1)!.body).toMatchObject({
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: 'required',
    });

    const streamed = await client.messages.stream({ model: 'gpt-4o-mini', max_tokens: 64, tools, messages: [{ role: 'user', content: 'Weather in Paris?' }] }).finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content).toMatchObject([{ type: 'tool_use', id: 'call_0', name: 'get_weather', input: { city: 'Paris' } }]);

    openaiUp.script(null);
    const next = await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 64,
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'call_0', name: 'get_weather', input: { city: 'Paris' } }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_0', content: '18°C' },
            { type: 'text', text: 'And tomorrow?' },
          ],
        },
      ],
    });
    expect(next.content[0]).toMatchObject({ type: 'text', text: DEFAULT_REPLY });
    expect(openaiUp.requests.at(-1)!.body.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_0', content: '18°C' },
      { role: 'user', content: 'And tomorrow?' },
    ]);
  });

  it("shows a reasoning model's reasoning_content as a thinking block, streamed and not, and stores only the answer", async () => {
    openaiUp.script(() => ({ kind: 'reply', content: 'Oslo.', reasoning: 'The capital of Norway is Oslo.' }));
    const { data: msg, response } = await client.messages
      .create({ model: 'deepseek-chat', max_tokens: 64, messages: [{ role: 'user', content: 'Capital of Norway?' }] })
      .withResponse();
    expect(msg.content).toEqual([
      { type: 'thinking', thinking: 'The capital of Norway is Oslo.', signature: '' },
      { type: 'text', text: 'Oslo.', citations: null },
    ]);
    const rows = await eventually(async () => {
      const r = await conversationMessages(gw, response.headers.get('x-lyss-conversation-id')!);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[1]).toMatchObject({ role: 'assistant', content: 'Oslo.' });

    const final = await client.messages.stream({ model: 'deepseek-chat', max_tokens: 64, messages: [{ role: 'user', content: 'Capital of Norway?' }] }).finalMessage();
    expect(final.content).toEqual([
      { type: 'thinking', thinking: 'The capital of Norway is Oslo.', signature: '' },
      { type: 'text', text: 'Oslo.', citations: null },
    ]);

    // Handed back in the next turn, the unsigned thinking block is left out of the OpenAI request.
    await client.messages.create({
      model: 'deepseek-chat',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Capital of Norway?' }, { role: 'assistant', content: final.content }, { role: 'user', content: 'And Sweden?' }],
    });
    expect(openaiUp.requests.at(-1)!.body.messages[1]).toEqual({ role: 'assistant', content: 'Oslo.' });
  });

  it('asks the OpenAI channel for structured outputs when the client sets output_config.format', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const res = await raw({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Capital of Norway?' }], output_config: { format: { type: 'json_schema', schema } } });
    expect(res.status).toBe(200);
    expect(openaiUp.requests.at(-1)!.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema, strict: true } });
    const bad = await raw({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], output_config: { format: { type: 'regex' } } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it('sends images as image_url parts', async () => {
    await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 16,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'text', text: 'What are these?' },
          ],
        },
      ],
    });
    expect(openaiUp.requests.at(-1)!.body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'text', text: 'What are these?' },
        ],
      },
    ]);
  });

  it('maps finish reasons to stop reasons', async () => {
    for (const [finish, stop] of [
      ['stop', 'end_turn'],
      ['length', 'max_tokens'],
      ['content_filter', 'refusal'],
    ] as const) {
      openaiUp.script(() => ({ kind: 'reply', finishReason: finish }));
      expect((await client.messages.create({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] })).stop_reason).toBe(stop);
      expect((await client.messages.stream({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage()).stop_reason).toBe(stop);
    }
  });

  it('ends a stream cut after content with an error event', async () => {
    openaiUp.script(() => ({ kind: 'cut', afterChunks: 3 }));
    const res = await raw({ model: 'gpt-4o-mini', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const evs = events(await res.text());
    expect(evs[0]![0]).toBe('message_start');
    expect(evs.at(-1)).toEqual(['error', { type: 'error', error: { type: 'api_error', message: expect.any(String) } }]);
    expect(evs.some(([n]) => n === 'message_stop')).toBe(false);
  });
});

describe('to an Azure channel', () => {
  it('answers streamed and not, with no trace of the filter chunk', async () => {
    const msg = await client.messages.create({ model: 'gpt-4o', max_tokens: 32, messages: [{ role: 'user', content: 'Hi' }] });
    expect(msg.content).toMatchObject([{ type: 'text', text: AZURE_DEFAULT_TEXT }]);
    expect(msg.usage).toMatchObject({ input_tokens: 15, output_tokens: 6 });
    expect(providers.requests.at(-1)!.path).toBe('/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21');
    expect(providers.requests.at(-1)!.body.max_tokens).toBe(32);

    const res = await raw({ model: 'gpt-4o', max_tokens: 32, stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const text = await res.text();
    expect(text).not.toContain('filter');
    const evs = events(text);
    expectAnthropicOrder(evs);
    expect(evs.filter(([n]) => n === 'content_block_delta').map(([, d]) => d.delta.text).join('')).toBe(AZURE_DEFAULT_TEXT);
  });
});

describe('to an Anthropic channel (passthrough)', () => {
  const fixture: AnthropicFixture = {
    model: CLAUDE,
    text: 'Native answer, relayed as it came.',
    stopReason: 'end_turn',
    usage: { input_tokens: 30, output_tokens: 8, cache_read_input_tokens: 12, cache_creation_input_tokens: 5 },
  };

  it('relays the Message as it came, with the model mapped and the channel key', async () => {
    providers.script(() => ({ kind: 'anthropic', fixture }));
    const body = {
      model: 'claude-sonnet',
      max_tokens: 300,
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Hi' }],
      top_k: 5,
      metadata: { user_id: 'u-1' },
    };
    const res = await raw(body, { 'x-api-key': TEST_TOKEN, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(anthropicMessage(fixture));
    const up = providers.requests.at(-1)!;
    expect(up.pathname).toBe('/v1/messages');
    expect(up.body).toEqual({ ...body, model: CLAUDE });
    expect(up.headers['x-api-key']).toBe('sk-ant-main');
    expect(up.headers['anthropic-version']).toBe('2023-06-01');
    expect(up.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
    expect(JSON.stringify(up.headers)).not.toContain(TEST_TOKEN);
  });

  it('relays the stream byte for byte', async () => {
    providers.script(() => ({ kind: 'anthropic', fixture }));
    const res = await raw({ model: 'claude-sonnet', max_tokens: 300, stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    expect(await res.text()).toBe(anthropicSse(fixture));
    expect(providers.requests.at(-1)!.body).toMatchObject({ model: CLAUDE, stream: true });

    const final = await client.messages.stream({ model: 'claude-sonnet', max_tokens: 300, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    expect(final.content).toMatchObject([{ type: 'text', text: 'Native answer, relayed as it came.' }]);
    expect(final.usage).toMatchObject({ input_tokens: 30, output_tokens: 8, cache_read_input_tokens: 12 });
    // The SDK's own version header reached upstream: the body it wrote follows that version.
    expect(providers.requests.at(-1)!.headers['anthropic-version']).toBe('2026-10-21');
  });

  it('a stream cut after content bills the input tokens message_start reported, and counts what was said', async () => {
    providers.script(() => ({ kind: 'cut', afterEvents: 5 }));
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const evs = events(await (await raw({ model: 'claude-sonnet', max_tokens: 300, stream: true, messages: [{ role: 'user', content: 'Hi' }] })).text());
    const said = evs.filter(([n, d]) => n === 'content_block_delta' && d.delta.type === 'text_delta').map(([, d]) => d.delta.text).join('');
    expect(said.length).toBeGreaterThan(0);
    expect(evs.at(-1)![0]).toBe('error');
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + ANTHROPIC_DEFAULT_USAGE.input_tokens + countText(said)));
  });

  it('fails over when the stream reports overloaded before any content', async () => {
    providers.script((req) =>
      req.key === 'sk-ant-main' ? { kind: 'anthropic', errorAfterEvents: { after: 1, type: 'overloaded_error' } } : { kind: 'anthropic', fixture: { ...fixture, text: 'From the backup.' } },
    );
    const final = await client.messages.stream({ model: 'claude-sonnet', max_tokens: 300, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    expect(final.content).toMatchObject([{ type: 'text', text: 'From the backup.' }]);
    expect(providers.requests.map((r) => r.key)).toEqual(['sk-ant-main', 'sk-ant-backup']);
  });

  it('records usage with cache tokens, streamed and not', async () => {
    providers.script(() => ({ kind: 'anthropic', fixture }));
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const plain = await raw({ model: 'claude-sonnet', max_tokens: 300, messages: [{ role: 'user', content: 'Count this' }] });
    await plain.text();
    const streamed = await raw({ model: 'claude-sonnet', max_tokens: 300, stream: true, messages: [{ role: 'user', content: 'Count this too' }] });
    await streamed.text();
    // (30 + 12 + 5) prompt + 8 completion, twice.
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + 110));
    for (const res of [plain, streamed]) {
      const id = res.headers.get('x-lyss-conversation-id')!;
      const rows = await eventually(async () => {
        const r = await conversationMessages(gw, id);
        expect(r).toHaveLength(2);
        return r;
      });
      expect(rows[1]).toMatchObject({ role: 'assistant', content: 'Native answer, relayed as it came.', token_count: 8, model_used: CLAUDE });
      expect((await conversationRow(gw, id))!.token_usage).toBe(55);
    }
  });
});

describe('usage through translation', () => {
  it('is recorded the same way as /v1/chat/completions', async () => {
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const { response } = await client.messages.create({ model: 'gpt-4o-mini', max_tokens: 16, system: 'Sys', messages: [{ role: 'user', content: 'Record me' }] }).withResponse();
    const id = response.headers.get('x-lyss-conversation-id')!;
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + 19));
    const rows = await eventually(async () => {
      const r = await conversationMessages(gw, id);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[0]).toMatchObject({ role: 'user', content: 'Record me' });
    expect(rows[1]).toMatchObject({ role: 'assistant', content: DEFAULT_REPLY, token_count: 7, model_used: 'gpt-4o-mini' });
    expect(await conversationRow(gw, id)).toMatchObject({ token_usage: 19, message_count: 2, model_name: 'gpt-4o-mini' });
  });
});

describe('errors, in Anthropic shape', () => {
  it('refuses a bad token with 401 authentication_error', async () => {
    const bad = new Anthropic({ baseURL: gw.url, apiKey: 'lyss-wrong-0000000000000000000000000000', maxRetries: 0 });
    const err = await bad.messages.create({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    const res = await raw({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }, {});
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.any(String) } });
  });

  it('answers an unknown model with 404 not_found_error and a bad body with 400 invalid_request_error', async () => {
    const err = await client.messages.create({ model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.error).toEqual({ type: 'error', error: { type: 'not_found_error', message: expect.stringContaining('no-such-model') } });

    const res = await raw({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });

    const notJson = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': TEST_TOKEN, 'content-type': 'application/json' }, body: '{' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect(openaiUp.requests).toHaveLength(0);
  });

  it('an OpenAI-format channel answering 200 with an error object: an error in Anthropic shape, nothing billed', async () => {
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    openaiUp.script(() => ({ kind: 'status', status: 200, body: { error: { message: 'The server had an error', type: 'server_error' } } }));
    const err = await client.messages.create({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.status).toBe(502);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    await quiesce(gw);
    expect(await tokenUsedQuota(gw)).toBe(before);
  });

  it('refuses a server tool an OpenAI channel cannot run, before calling upstream', async () => {
    const res = await raw({ model: 'gpt-4o-mini', max_tokens: 8, tools: [{ type: 'web_search_20250305', name: 'web_search' }], messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect(openaiUp.requests).toHaveLength(0);
  });

  it('maps upstream failures to their Anthropic status and type', async () => {
    const cases: [number, number, string, new (...a: any[]) => Error][] = [
      [429, 429, 'rate_limit_error', Anthropic.RateLimitError],
      [500, 502, 'api_error', Anthropic.InternalServerError],
      [400, 400, 'invalid_request_error', Anthropic.BadRequestError],
    ];
    for (const [upstream, status, type, cls] of cases) {
      openaiUp.script(() => ({ kind: 'status', status: upstream }));
      const err = await client.messages.create({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
      expect(err).toBeInstanceOf(cls);
      expect(err.status).toBe(status);
      expect(err.error).toEqual({ type: 'error', error: { type, message: expect.any(String) } });
      expect(JSON.stringify(err.error)).not.toContain('mocksecret');
    }
    providers.script(() => ({ kind: 'anthropic-error', type: 'overloaded_error' }));
    const err = await client.messages.create({ model: 'claude-sonnet', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err.error).toEqual({ type: 'error', error: { type: 'overloaded_error', message: expect.any(String) } });
  });
});

describe('POST /v1/messages/count_tokens', () => {
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];

  it('counts a request as the quota would (system prompt and tools included), calling no upstream and billing nothing', async () => {
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const bare = await client.messages.countTokens({ model: 'claude-sonnet', messages });
    const expected = countChatPrompt(parseRequest(chatRequestSchema, anthropicToOpenAIRequest({ model: 'claude-sonnet', messages })).messages);
    expect(bare).toEqual({ input_tokens: expected });
    const system = 'You are a meteorologist. '.repeat(20);
    const full = await client.messages.countTokens({ model: 'claude-sonnet', messages, system, tools });
    const translated = parseRequest(chatRequestSchema, anthropicToOpenAIRequest({ model: 'claude-sonnet', messages, system, tools }));
    expect(translated.tools).toHaveLength(1);
    expect(full).toEqual({ input_tokens: countChatPrompt(translated.messages, translated.tools) });
    expect(full.input_tokens).toBeGreaterThan(bare.input_tokens + countText(system));
    // Claude Code's own call, through the SDK's beta surface (`?beta=true`).
    expect(await client.beta.messages.countTokens({ model: 'gpt-4o-mini', messages })).toEqual({ input_tokens: expected });
    expect(providers.requests).toHaveLength(0);
    expect(openaiUp.requests).toHaveLength(0);
    await quiesce(gw);
    expect(await tokenUsedQuota(gw)).toBe(before);
  });

  it('a request with a server tool (which only Anthropic runs) still counts its system prompt and tools', async () => {
    const system = 'You are a meteorologist. '.repeat(20);
    const plain = await client.messages.countTokens({ model: 'claude-sonnet', messages, system, tools });
    const withSearch = await client.messages.countTokens({ model: 'claude-sonnet', messages, system, tools: [...tools, { type: 'web_search_20250305', name: 'web_search' }] });
    expect(withSearch.input_tokens).toBeGreaterThanOrEqual(plain.input_tokens);
    expect(withSearch.input_tokens).toBeLessThan(plain.input_tokens * 1.5);
  });

  it('counts while every channel of the model is cooling down: nothing goes upstream', async () => {
    const health = gw.deps.relay.health;
    const cooling = vi.spyOn(health, 'cooling').mockReturnValue(true);
    try {
      expect((await client.messages.countTokens({ model: 'claude-sonnet', messages })).input_tokens).toBeGreaterThan(0);
    } finally {
      cooling.mockRestore();
    }
  });

  it('refuses as /v1/messages does: a bad token, an unknown model, a body without messages', async () => {
    const bad = new Anthropic({ baseURL: gw.url, apiKey: 'lyss-wrong-0000000000000000000000000000', maxRetries: 0 });
    expect(await bad.messages.countTokens({ model: 'claude-sonnet', messages }).catch((e) => e)).toBeInstanceOf(Anthropic.AuthenticationError);
    const unknown = await client.messages.countTokens({ model: 'no-such-model', messages }).catch((e) => e);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    const res = await fetch(`${gw.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'x-api-key': TEST_TOKEN, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-sonnet' }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('messages') } });
  });

  it('a method other than POST on either endpoint: 405 in Anthropic shape', async () => {
    for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
      const res = await fetch(`${gw.url}${path}`, { headers: { 'x-api-key': TEST_TOKEN } });
      expect(res.status).toBe(405);
      expect(await res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'Only POST is supported on this endpoint.' } });
    }
  });
});
