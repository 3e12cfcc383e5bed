/**
 * Anthropic channels end to end: the official openai SDK calls the gateway, which speaks the Messages API to
 * a mock that answers in Anthropic's exact wire format and checks requests the way the API does.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { ANTHROPIC_DEFAULT_TEXT, ANTHROPIC_DEFAULT_USAGE, startMockProviders, type MockProviders, type ProviderRequest } from '../../helpers/mock-providers.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { THINKING_SIGNATURE, type AnthropicErrorTypeFixture, type AnthropicFixture, type AnthropicStopReasonFixture } from '../../helpers/anthropic-wire.js';
import { channelRow, conversationMessages, conversationRow, quiesce, tokenUsedQuota } from './db.js';
import { countChatPrompt, countText } from '../../../src/relay/tokenize.js';

let mock: MockProviders;
let openaiUp: MockUpstream;
let gw: TestGateway;
let client: OpenAI;

const UPSTREAM_MODEL = 'claude-sonnet-4-5-20250929';
const METERED_QUOTA = 200;

function channel(name: string, key: string, models: string[], extra: Record<string, unknown> = {}) {
  return { name, type: 'anthropic', base_url: mock.url, key, models, priority: 10, weight: 1, rate_limit: 100000, quota: -1, scope: 'tenant', ...extra };
}

beforeAll(async () => {
  mock = await startMockProviders();
  openaiUp = await startMockUpstream();
  gw = await startGateway({
    // Error-mapping tests fail this channel on purpose: keep it out of cool-down.
    env: { LYSS_COOLDOWN_FAILURES: '1000', LYSS_DEFAULT_MAX_TOKENS: '1234' },
    config: basicConfig(mock.url, {
      channels: [
        channel('claude-main', 'sk-ant-main', ['claude-sonnet', 'claude-failover'], { model_mapping: { 'claude-sonnet': UPSTREAM_MODEL } }),
        channel('claude-backup', 'sk-ant-backup', ['claude-failover'], { priority: 5 }),
        channel('claude-badkey', 'sk-ant-badkey', ['claude-401']),
        channel('claude-forbidden', 'sk-ant-forbidden', ['claude-403']),
        channel('claude-broke', 'sk-ant-broke', ['claude-402']),
        channel('claude-revoked', 'sk-ant-revoked', ['claude-rotated']),
        channel('claude-spare', 'sk-ant-spare', ['claude-rotated'], { priority: 5 }),
        channel('claude-metered', 'sk-ant-metered', ['claude-metered'], { quota: METERED_QUOTA }),
        // The same model through an OpenAI-format reseller, one tier down.
        channel('claude-direct', 'sk-ant-direct', ['claude-both']),
        { ...channel('claude-resold', 'sk-resold', ['claude-both'], { priority: 5 }), type: 'openai', base_url: openaiUp.url },
      ],
    }),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_TOKEN, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
  await openaiUp?.close();
});
beforeEach(() => {
  mock.requests.length = 0;
  mock.script(null);
});

const lastRequest = (): ProviderRequest => mock.requests.at(-1)!;

/** Raw SSE `data:` payloads of a streamed chat completion. */
async function rawStream(body: Record<string, unknown>): Promise<{ text: string; payloads: string[] }> {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  const payloads = text
    .split('\n\n')
    .filter((f) => f.startsWith('data: '))
    .map((f) => f.slice(6));
  return { text, payloads };
}

describe('requests', () => {
  it('translates a chat request to the Messages API with the channel key and version', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'claude-sonnet',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: 'Answer in English.' },
          { role: 'user', content: 'Hi' },
          { role: 'user', content: 'there' },
        ],
        stop: ['END'],
        temperature: 0.3,
        max_tokens: 100,
      })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('claude-sonnet');
    expect(data.choices[0]!.message).toMatchObject({ role: 'assistant', content: ANTHROPIC_DEFAULT_TEXT });
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(response.headers.get('x-request-id')).toBeTruthy();

    const up = lastRequest();
    expect(up.provider).toBe('anthropic');
    expect(up.pathname).toBe('/v1/messages');
    expect(up.headers['x-api-key']).toBe('sk-ant-main');
    expect(up.headers['anthropic-version']).toBe('2023-06-01');
    expect(up.headers.authorization).toBeUndefined();
    expect(JSON.stringify(up.headers)).not.toContain(TEST_TOKEN);
    expect(up.body).toEqual({
      model: UPSTREAM_MODEL,
      system: [
        { type: 'text', text: 'Be brief.' },
        { type: 'text', text: 'Answer in English.' },
      ],
      // Consecutive user messages merged: Anthropic's turns alternate.
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'text', text: 'there' }] }],
      max_tokens: 100,
      stop_sequences: ['END'],
      temperature: 0.3,
    });
  });

  it('always sets max_tokens, from the configured default when the client gives none', async () => {
    await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }], top_p: 0.5 });
    expect(lastRequest().body.max_tokens).toBe(1234);
    expect(lastRequest().body.top_p).toBe(0.5);
    await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 77 });
    expect(lastRequest().body.max_tokens).toBe(77);
  });

  it('caps the completion at what a finite quota allows, whichever field the client set', async () => {
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    // The translation reads max_completion_tokens first: the cap must lower that one, or 4000 would go up.
    await client.chat.completions.create({ model: 'claude-metered', messages, max_completion_tokens: 4000 });
    expect(lastRequest().body.max_tokens).toBe(METERED_QUOTA - countChatPrompt(messages));
  });

  it('sends images given by URL and as base64 data URLs as image blocks', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const r = await client.chat.completions.create({
      model: 'claude-sonnet',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
          ],
        },
      ],
    });
    expect(r.choices[0]!.message.content).toBe(ANTHROPIC_DEFAULT_TEXT);
    expect(lastRequest().body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
        ],
      },
    ]);
  });

  it('refuses content Anthropic cannot take as the client error, without calling upstream', async () => {
    const err = await client.chat.completions
      .create({ model: 'claude-sonnet', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error.param).toBe('messages[0].content[0].type');
    expect(mock.requests).toHaveLength(0);
  });
});

describe('tools', () => {
  const tools: OpenAI.ChatCompletionTool[] = [
    {
      type: 'function',
      function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
    },
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
  ];

  it('translates tool definitions and every tool_choice', async () => {
    const cases: [OpenAI.ChatCompletionToolChoiceOption | undefined, unknown][] = [
      [undefined, undefined],
      ['auto', { type: 'auto' }],
      ['none', { type: 'none' }],
      ['required', { type: 'any' }],
      [{ type: 'function', function: { name: 'get_time' } }, { type: 'tool', name: 'get_time' }],
    ];
    for (const [choice, expected] of cases) {
      await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Weather?' }], tools, ...(choice ? { tool_choice: choice } : {}) });
      const body = lastRequest().body;
      expect(body.tools).toEqual([
        { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
        { name: 'get_time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
      ]);
      expect(body.tool_choice).toEqual(expected);
    }
    await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Weather?' }], tools, parallel_tool_calls: false });
    expect(lastRequest().body.tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
  });

  it('answers tool_use as tool_calls with JSON string arguments', async () => {
    mock.script(() => ({
      kind: 'anthropic',
      fixture: { text: 'Let me check.', toolUses: [{ id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } }, { id: 'toolu_01B', name: 'get_time', input: { tz: 'CET' } }] },
    }));
    const r = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Weather and time in Paris?' }], tools });
    const choice = r.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBe('Let me check.');
    expect(choice.message.tool_calls).toEqual([
      { id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'toolu_01B', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
    ]);
  });

  it('streams parallel tool calls numbered from 0, after a text block, with one finish_reason', async () => {
    mock.script(() => ({
      kind: 'anthropic',
      fixture: {
        thinking: 'The user wants two things.',
        text: 'Checking both.',
        toolUses: [
          { id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
          { id: 'toolu_01B', name: 'get_time', input: { tz: 'Europe/Paris' } },
        ],
      },
    }));
    const stream = client.chat.completions.stream({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Weather and time in Paris?' }], tools });
    const indexes = new Set<number>();
    const finishes: string[] = [];
    const ids = new Set<string>();
    for await (const chunk of stream) {
      ids.add(chunk.id);
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) indexes.add(tc.index);
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    }
    const final = await stream.finalChatCompletion();
    expect([...indexes]).toEqual([0, 1]);
    expect(finishes).toEqual(['tool_calls']);
    expect(ids.size).toBe(1);
    expect(final.choices[0]!.message.content).toBe('Checking both.');
    expect(final.choices[0]!.message.tool_calls!.map((t) => [t.id, t.function.name, JSON.parse(t.function.arguments)])).toEqual([
      ['toolu_01A', 'get_weather', { city: 'Paris', unit: 'celsius' }],
      ['toolu_01B', 'get_time', { tz: 'Europe/Paris' }],
    ]);
  });

  it('carries a multi-turn conversation with tool results, ids kept', async () => {
    mock.script(() => ({ kind: 'anthropic', fixture: { text: 'It is 18°C and 14:00 in Paris.' } }));
    const r = await client.chat.completions.create({
      model: 'claude-sonnet',
      tools,
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'toolu_01B', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_01A', content: '18°C, sunny' },
        { role: 'tool', tool_call_id: 'toolu_01B', content: [{ type: 'text', text: '14:00' }] },
        { role: 'user', content: 'Summarise.' },
      ],
    });
    expect(r.choices[0]!.message.content).toBe('It is 18°C and 14:00 in Paris.');
    expect(lastRequest().body.system).toBe('You are helpful.');
    expect(lastRequest().body.messages).toEqual([
      { role: 'user', content: 'Weather and time in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_01B', name: 'get_time', input: { tz: 'CET' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01A', content: '18°C, sunny' },
          { type: 'tool_result', tool_use_id: 'toolu_01B', content: [{ type: 'text', text: '14:00' }] },
          { type: 'text', text: 'Summarise.' },
        ],
      },
    ]);
  });
});

describe('streaming', () => {
  it('streams text with one id, the role first, one finish_reason and the usage chunk when asked', async () => {
    mock.script(() => ({ kind: 'anthropic', fixture: { text: 'One two three four.', usage: { input_tokens: 40, output_tokens: 5, cache_read_input_tokens: 8 } } }));
    const stream = await client.chat.completions.create({
      model: 'claude-sonnet',
      messages: [{ role: 'user', content: 'Count' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.model === 'claude-sonnet' && c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.slice(1).some((c) => c.choices[0]?.delta.role)).toBe(false);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('One two three four.');
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean)).toEqual(['stop']);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 48, completion_tokens: 5, total_tokens: 53, prompt_tokens_details: { cached_tokens: 8 } });
    expect(lastRequest().body.stream).toBe(true);
  });

  it('shows no usage to a client that did not ask, and ends with [DONE]', async () => {
    const { text, payloads } = await rawStream({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }] });
    expect(text).not.toContain('"usage"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = payloads.filter((p) => p !== '[DONE]').map((p) => JSON.parse(p));
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(ANTHROPIC_DEFAULT_TEXT);
  });

  it('ends a stream cut after content with an error frame, billing the input tokens message_start reported', async () => {
    mock.script(() => ({ kind: 'cut', afterEvents: 5 }));
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const stream = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    })().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toBe(ANTHROPIC_DEFAULT_TEXT);
    // Anthropic bills the 21 input tokens it reported first; what was said is counted here.
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + ANTHROPIC_DEFAULT_USAGE.input_tokens + countText(text)));
  });
});

describe('reasoning and structured outputs', () => {
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };

  it('sends reasoning_effort and a json_schema response_format as output_config', async () => {
    mock.script(() => ({ kind: 'anthropic', fixture: { text: '{"city":"Oslo"}' } }));
    const r = await client.chat.completions.create({
      model: 'claude-sonnet',
      messages: [{ role: 'user', content: 'Capital of Norway, as JSON' }],
      reasoning_effort: 'minimal',
      response_format: { type: 'json_schema', json_schema: { name: 'place', strict: true, schema } },
    });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ city: 'Oslo' });
    expect(lastRequest().body.output_config).toEqual({ effort: 'low', format: { type: 'json_schema', schema } });
    expect(lastRequest().body).not.toHaveProperty('response_format');
    expect(lastRequest().body).not.toHaveProperty('reasoning_effort');

    await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Quick' }], reasoning_effort: 'none' });
    expect(lastRequest().body.thinking).toEqual({ type: 'disabled' });
    expect(lastRequest().body).not.toHaveProperty('output_config');
  });

  it('answers thinking as reasoning_content and thinking_blocks, and stores only the answer', async () => {
    mock.script(() => ({
      kind: 'anthropic',
      fixture: { thinking: 'Norway: Oslo.', text: 'Oslo.', usage: { input_tokens: 20, output_tokens: 30 }, thinkingTokens: 24 },
    }));
    const { data, response } = await client.chat.completions
      .create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Capital of Norway?' }], reasoning_effort: 'high' })
      .withResponse();
    const message = data.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string; thinking_blocks?: unknown };
    expect(message.content).toBe('Oslo.');
    expect(message.reasoning_content).toBe('Norway: Oslo.');
    expect(message.thinking_blocks).toEqual([{ type: 'thinking', thinking: 'Norway: Oslo.', signature: THINKING_SIGNATURE }]);
    expect(data.usage).toMatchObject({ completion_tokens: 30, completion_tokens_details: { reasoning_tokens: 24 } });
    const rows = await eventually(async () => {
      const r = await conversationMessages(gw, response.headers.get('x-lyss-conversation-id')!);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[1]).toMatchObject({ role: 'assistant', content: 'Oslo.', token_count: 30 });
  });

  it('streams thinking as reasoning_content deltas, the signature as thinking_blocks, the text apart', async () => {
    mock.script(() => ({ kind: 'anthropic', fixture: { thinking: 'Two steps: look up, answer.', text: 'Oslo it is.', thinkingTokens: 9 } }));
    const stream = await client.chat.completions.create({
      model: 'claude-sonnet',
      messages: [{ role: 'user', content: 'Capital of Norway?' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    type Delta = OpenAI.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string; thinking_blocks?: unknown[] };
    const deltas: Delta[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      for (const choice of c.choices) deltas.push(choice.delta as Delta);
      usage = c.usage ?? usage;
    }
    expect(deltas.map((d) => d.reasoning_content ?? '').join('')).toBe('Two steps: look up, answer.');
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('Oslo it is.');
    expect(deltas.flatMap((d) => d.thinking_blocks ?? [])).toEqual([{ type: 'thinking', signature: THINKING_SIGNATURE }]);
    expect(usage?.completion_tokens_details?.reasoning_tokens).toBe(9);
  });

  it('hands thinking_blocks back to Anthropic at the head of the assistant turn that called tools', async () => {
    const r = await client.chat.completions.create({
      model: 'claude-sonnet',
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
          // What the gateway handed out with the tool call (LiteLLM's field); the SDK's type does not know it.
          ...{ thinking_blocks: [{ type: 'thinking', thinking: 'Use the tool.', signature: THINKING_SIGNATURE }] },
        },
        { role: 'tool', tool_call_id: 'toolu_01A', content: '-3°C' },
      ],
    });
    expect(r.choices[0]!.message.content).toBe(ANTHROPIC_DEFAULT_TEXT);
    expect(lastRequest().body.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'Use the tool.', signature: THINKING_SIGNATURE },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Oslo' } },
      ],
    });
  });
});

describe('finish reasons', () => {
  const cases: [AnthropicStopReasonFixture, string, Partial<AnthropicFixture>][] = [
    ['end_turn', 'stop', {}],
    ['stop_sequence', 'stop', { stopSequence: 'END' }],
    ['max_tokens', 'length', {}],
    ['tool_use', 'tool_calls', { toolUses: [{ name: 'get_time', input: {} }] }],
    ['refusal', 'content_filter', {}],
    ['model_context_window_exceeded', 'length', {}],
  ];
  for (const [stopReason, expected, extra] of cases) {
    it(`${stopReason} -> ${expected}, streamed and not`, async () => {
      mock.script(() => ({ kind: 'anthropic', fixture: { text: 'Partial answer', stopReason, ...extra } }));
      const r = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }] });
      expect(r.choices[0]!.finish_reason).toBe(expected);
      const stream = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }], stream: true });
      const finishes: string[] = [];
      for await (const c of stream) if (c.choices[0]?.finish_reason) finishes.push(c.choices[0].finish_reason);
      expect(finishes).toEqual([expected]);
    });
  }
});

describe('usage', () => {
  it('reports cache reads and writes in prompt_tokens_details and records the cost', async () => {
    const usage = { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 30, cache_creation_input_tokens: 10 };
    mock.script(() => ({ kind: 'anthropic', fixture: { text: 'Cached answer.', usage } }));
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const channelBefore = (await channelRow(gw, 'claude-main')).used_quota;
    const { data, response } = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Use the cache' }] }).withResponse();
    expect(data.usage).toMatchObject({ prompt_tokens: 140, completion_tokens: 20, total_tokens: 160, prompt_tokens_details: { cached_tokens: 30, cache_write_tokens: 10 } });
    const conversation = response.headers.get('x-lyss-conversation-id')!;
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + 160));
    expect((await channelRow(gw, 'claude-main')).used_quota).toBe(channelBefore + 160);
    const rows = await eventually(async () => {
      const r = await conversationMessages(gw, conversation);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[0]).toMatchObject({ role: 'user', content: 'Use the cache' });
    expect(rows[1]).toMatchObject({ role: 'assistant', content: 'Cached answer.', token_count: 20, model_used: UPSTREAM_MODEL });
    expect(await conversationRow(gw, conversation)).toMatchObject({ token_usage: 160, message_count: 2, model_name: 'claude-sonnet' });
  });

  it('records a streamed answer from the usage in its events, tool calls included', async () => {
    mock.script(() => ({
      kind: 'anthropic',
      fixture: { toolUses: [{ id: 'toolu_01Z', name: 'get_time', input: { tz: 'UTC' } }], usage: { input_tokens: 50, output_tokens: 12, cache_creation_input_tokens: 4 } },
    }));
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Time?' }], stream: true })
      .withResponse();
    for await (const _ of stream);
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + 66));
    const rows = await eventually(async () => {
      const r = await conversationMessages(gw, response.headers.get('x-lyss-conversation-id')!);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[1]!.token_count).toBe(12);
    expect(rows[1]!.tool_calls).toEqual([{ id: 'toolu_01Z', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }]);
  });
});

describe('errors', () => {
  // Single channel: the mapped status reaches the client (retryable ones after the only channel failed).
  const cases: [AnthropicErrorTypeFixture, number, string][] = [
    ['invalid_request_error', 400, 'invalid_request_error'],
    ['not_found_error', 404, 'invalid_request_error'],
    ['request_too_large', 413, 'invalid_request_error'],
    ['rate_limit_error', 429, 'rate_limit_error'],
    ['api_error', 502, 'server_error'],
    ['timeout_error', 504, 'server_error'],
    ['overloaded_error', 503, 'server_error'],
  ];
  for (const [type, status, openaiType] of cases) {
    it(`${type} -> ${status} ${openaiType}`, async () => {
      mock.script(() => ({ kind: 'anthropic-error', type }));
      const err = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.status).toBe(status);
      expect(err.error.type).toBe(openaiType);
      // The upstream's own text never reaches the client.
      expect(JSON.stringify(err.error)).not.toContain('mocksecret');
      expect(mock.requests).toHaveLength(1);
    });
  }

  it('maps a 400 about the context window to context_length_exceeded', async () => {
    mock.script(() => ({ kind: 'anthropic-error', type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' }));
    const err = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err.status).toBe(400);
    expect(err.error.code).toBe('context_length_exceeded');
  });

  const faults: [string, AnthropicErrorTypeFixture, number, string][] = [
    ['claude-401', 'authentication_error', 502, 'auth'],
    ['claude-403', 'permission_error', 502, 'auth'],
    ['claude-402', 'billing_error', 503, 'billing'],
  ];
  for (const [model, type, status, reason] of faults) {
    it(`${type} answers ${status} and puts the channel in status 3 (${reason})`, async () => {
      mock.script(() => ({ kind: 'anthropic-error', type }));
      const err = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
      expect(err.status).toBe(status);
      // The caller's Lyss token is fine: never a 401 that would blame it.
      expect(err.status).not.toBe(401);
      const name = { 'claude-401': 'claude-badkey', 'claude-403': 'claude-forbidden', 'claude-402': 'claude-broke' }[model]!;
      const row = await eventually(async () => {
        const r = await channelRow(gw, name);
        expect(r.status).toBe(3);
        return r;
      });
      expect(row.status_reason).toContain(reason);
      expect(row.status_changed_at).not.toBeNull();
      // It stops being selected at once.
      await eventually(async () => {
        const again = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
        expect(again.status).toBe(503);
      });
    });
  }

  const retryable: AnthropicErrorTypeFixture[] = ['overloaded_error', 'rate_limit_error', 'api_error', 'timeout_error'];
  for (const type of retryable) {
    it(`${type} fails over to the next channel`, async () => {
      mock.script((req) => (req.key === 'sk-ant-main' ? { kind: 'anthropic-error', type } : undefined));
      const r = await client.chat.completions.create({ model: 'claude-failover', messages: [{ role: 'user', content: 'Hi' }] });
      expect(r.choices[0]!.message.content).toBe(ANTHROPIC_DEFAULT_TEXT);
      expect(mock.requests.map((q) => q.key)).toEqual(['sk-ant-main', 'sk-ant-backup']);
    });
  }

  it('a channel whose key upstream refuses fails over to the next, and goes to status 3', async () => {
    mock.script((req) => (req.key === 'sk-ant-revoked' ? { kind: 'anthropic-error', type: 'authentication_error' } : undefined));
    const r = await client.chat.completions.create({ model: 'claude-rotated', messages: [{ role: 'user', content: 'Hi' }] });
    expect(r.choices[0]!.message.content).toBe(ANTHROPIC_DEFAULT_TEXT);
    expect(mock.requests.map((q) => q.key)).toEqual(['sk-ant-revoked', 'sk-ant-spare']);
    await eventually(async () => expect((await channelRow(gw, 'claude-revoked')).status).toBe(3));
  });

  it('embeddings or legacy completions of a model only Anthropic channels serve: 404 that says so, upstream not called', async () => {
    for (const call of [
      client.embeddings.create({ model: 'claude-sonnet', input: 'hi' }),
      client.completions.create({ model: 'claude-sonnet', prompt: 'hi' }),
    ]) {
      const err = await call.catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.status).toBe(404);
      expect(err.error).toMatchObject({ code: 'model_not_found', param: 'model' });
      expect(err.message).toContain('not available on this endpoint');
    }
    expect(mock.requests).toHaveLength(0);
  });

  it('a request Anthropic cannot express goes to a channel of another format that serves the model', async () => {
    openaiUp.reset();
    const r = await client.chat.completions.create({ model: 'claude-both', messages: [{ role: 'system', content: 'Say hi.' }] });
    expect(r.choices[0]!.message.content).toBe(DEFAULT_REPLY);
    expect(mock.requests).toHaveLength(0);
    expect(openaiUp.requests).toHaveLength(1);
    // Where no channel can express it, the client hears why.
    const err = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'system', content: 'Say hi.' }] }).catch((e) => e);
    expect(err.status).toBe(400);
    expect(err.message).toContain('at least one user or assistant message');
  });

  it('fails over when the stream reports overloaded before any content', async () => {
    mock.script((req) => (req.key === 'sk-ant-main' ? { kind: 'anthropic', errorAfterEvents: { after: 1, type: 'overloaded_error' } } : { kind: 'anthropic', fixture: { text: 'From the backup.' } }));
    const stream = await client.chat.completions.create({ model: 'claude-failover', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('From the backup.');
    expect(mock.requests.map((q) => q.key)).toEqual(['sk-ant-main', 'sk-ant-backup']);
  });
});
