/**
 * Azure OpenAI channels end to end: the openai SDK calls the gateway, which calls a mock speaking Azure's
 * wire format (deployment URLs, api-version, api-key, content-filter annotations and filter-only chunks).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { AZURE_DEFAULT_TEXT, startMockProviders, type MockProviders, type ProviderRequest } from '../../helpers/mock-providers.js';
import { channelRow, conversationMessages, conversationRow, quiesce, tokenUsedQuota } from './db.js';

let mock: MockProviders;
let gw: TestGateway;
let client: OpenAI;

function channel(name: string, key: string, models: string[], extra: Record<string, unknown> = {}) {
  return { name, type: 'azure-openai', base_url: mock.url, key, models, priority: 10, weight: 1, rate_limit: 100000, quota: -1, scope: 'tenant', ...extra };
}

beforeAll(async () => {
  mock = await startMockProviders();
  gw = await startGateway({
    env: { LYSS_COOLDOWN_FAILURES: '1000' },
    config: basicConfig(mock.url, {
      channels: [
        channel('azure-east', 'az-key-east', ['gpt-4o', 'gpt-4o-failover'], { model_mapping: { 'gpt-4o': 'prod-gpt4o', 'gpt-4o-failover': 'east-failover' } }),
        // A resource URL pasted with a trailing /openai/, and a pinned API version.
        channel('azure-pinned', 'az-key-pinned', ['gpt-4o-pinned'], {
          base_url: `${mock.url}/openai/`,
          model_mapping: { 'gpt-4o-pinned': 'pinned deploy' },
          config: { api_version: '2024-06-01' },
        }),
        channel('azure-west', 'az-key-west', ['gpt-4o-failover'], { priority: 5, model_mapping: { 'gpt-4o-failover': 'west-failover' } }),
        channel('azure-badkey', 'az-key-bad', ['gpt-4o-badkey']),
      ],
    }),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_TOKEN, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.close();
  await mock?.close();
});
beforeEach(() => {
  mock.requests.length = 0;
  mock.script(null);
  mock.acceptKeys(null);
});

const lastRequest = (): ProviderRequest => mock.requests.at(-1)!;

async function rawStream(body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  expect(res.status).toBe(200);
  return res.text();
}

const dataPayloads = (text: string) =>
  text
    .split('\n\n')
    .filter((f) => f.startsWith('data: ') && f !== 'data: [DONE]')
    .map((f) => JSON.parse(f.slice(6)));

describe('requests', () => {
  it('calls the deployment from model_mapping with the default api-version and the api-key header', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], temperature: 0.2 });
    expect(r.choices[0]!.message.content).toBe(AZURE_DEFAULT_TEXT);
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage).toMatchObject({ prompt_tokens: 15, completion_tokens: 6, total_tokens: 21 });
    const up = lastRequest();
    expect(up.provider).toBe('azure');
    expect(up.pathname).toBe('/openai/deployments/prod-gpt4o/chat/completions');
    expect(up.query).toEqual({ 'api-version': '2024-10-21' });
    expect(up.headers['api-key']).toBe('az-key-east');
    expect(up.headers.authorization).toBeUndefined();
    expect(JSON.stringify(up.headers)).not.toContain(TEST_TOKEN);
    expect(up.body).toMatchObject({ messages: [{ role: 'user', content: 'Hi' }], temperature: 0.2 });
  });

  it('uses the channel api_version and encodes the deployment name', async () => {
    await client.chat.completions.create({ model: 'gpt-4o-pinned', messages: [{ role: 'user', content: 'Hi' }] });
    const up = lastRequest();
    expect(up.path).toBe('/openai/deployments/pinned%20deploy/chat/completions?api-version=2024-06-01');
    expect(up.deployment).toBe('pinned deploy');
    expect(up.headers['api-key']).toBe('az-key-pinned');
  });

  it('passes images, tools and a multi-turn tool conversation through unchanged', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Where is this, and what is the weather?' },
          { type: 'image_url', image_url: { url: 'https://example.com/paris.jpg' } },
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQSkZJRg==' } },
        ],
      },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_az0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_az0', content: '18°C' },
    ];
    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    await client.chat.completions.create({ model: 'gpt-4o', messages, tools, tool_choice: 'auto' });
    expect(lastRequest().body.messages).toEqual(messages);
    expect(lastRequest().body.tools).toEqual(tools);
    expect(lastRequest().body.tool_choice).toBe('auto');
  });
});

describe('answers', () => {
  it('returns tool calls, streamed and not', async () => {
    mock.script(() => ({ kind: 'azure', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }, { name: 'get_time', arguments: '{"tz":"CET"}' }] }));
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather?' }] });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect((r.choices[0]!.message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]).map((t) => [t.id, t.function.name, t.function.arguments])).toEqual([
      ['call_az0', 'get_weather', '{"city":"Paris"}'],
      ['call_az1', 'get_time', '{"tz":"CET"}'],
    ]);
    const final = await client.chat.completions.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather?' }] }).finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.choices[0]!.message.tool_calls!.map((t) => JSON.parse(t.function.arguments))).toEqual([{ city: 'Paris' }, { tz: 'CET' }]);
  });

  it('never forwards the filter-only chunk, with or without include_usage', async () => {
    for (const includeUsage of [false, true]) {
      const text = await rawStream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
      expect(text).not.toContain('prompt_filter_results');
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
      const chunks = dataPayloads(text);
      // Every chunk but the usage chunk has a choice, so `choices[0]` readers never see an empty array.
      const empty = chunks.filter((c) => c.choices.length === 0);
      expect(empty.length).toBe(includeUsage ? 1 : 0);
      if (includeUsage) expect(empty[0].usage).toMatchObject({ prompt_tokens: 15, completion_tokens: 6 });
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(AZURE_DEFAULT_TEXT);
      // The gateway always asks upstream for usage, to bill it.
      expect(lastRequest().body.stream_options).toEqual({ include_usage: true });
    }
  });

  it('streams through the SDK', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    const finishes: string[] = [];
    for await (const c of stream) {
      text += c.choices[0]!.delta.content ?? '';
      if (c.choices[0]!.finish_reason) finishes.push(c.choices[0]!.finish_reason);
    }
    expect(text).toBe(AZURE_DEFAULT_TEXT);
    expect(finishes).toEqual(['stop']);
  });

  it('records usage, streamed and not', async () => {
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const { response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Count me' }] }).withResponse();
    const { data: stream, response: streamed } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Count me too' }], stream: true })
      .withResponse();
    for await (const _ of stream);
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + 42));
    for (const res of [response, streamed]) {
      const id = res.headers.get('x-lyss-conversation-id')!;
      const rows = await eventually(async () => {
        const r = await conversationMessages(gw, id);
        expect(r).toHaveLength(2);
        return r;
      });
      expect(rows[1]).toMatchObject({ role: 'assistant', content: AZURE_DEFAULT_TEXT, token_count: 6, model_used: 'prod-gpt4o' });
      expect((await conversationRow(gw, id))!.token_usage).toBe(21);
    }
  });
});

describe('errors', () => {
  it('fails over on 429 and 5xx', async () => {
    for (const status of [429, 500, 503]) {
      mock.requests.length = 0;
      mock.script((req) =>
        req.deployment === 'east-failover' ? { kind: 'status', status, body: { error: { code: String(status), message: 'Requests to the ChatCompletions_Create Operation have exceeded call rate limit.' } } } : undefined,
      );
      const r = await client.chat.completions.create({ model: 'gpt-4o-failover', messages: [{ role: 'user', content: 'Hi' }] });
      expect(r.choices[0]!.message.content).toBe(AZURE_DEFAULT_TEXT);
      expect(mock.requests.map((q) => q.deployment)).toEqual(['east-failover', 'west-failover']);
    }
  });

  it('fails over when the stream breaks before its first chunk', async () => {
    mock.script((req) => (req.deployment === 'east-failover' ? { kind: 'cut', afterEvents: 1 } : undefined));
    const stream = await client.chat.completions.create({ model: 'gpt-4o-failover', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(AZURE_DEFAULT_TEXT);
    expect(mock.requests.map((q) => q.deployment)).toEqual(['east-failover', 'west-failover']);
  });

  it("relays Azure's content-filter refusal as the client's 400", async () => {
    mock.script(() => ({
      kind: 'status',
      status: 400,
      body: {
        error: {
          message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
          type: null,
          param: 'prompt',
          code: 'content_filter',
          status: 400,
          innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { violence: { filtered: true, severity: 'high' } } },
        },
      },
    }));
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'bad' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error.code).toBe('content_filter');
  });

  it('a rejected api-key answers 502 and puts the channel in status 3', async () => {
    mock.acceptKeys(['az-key-east', 'az-key-west', 'az-key-pinned']);
    const err = await client.chat.completions.create({ model: 'gpt-4o-badkey', messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
    expect(err.status).toBe(502);
    const row = await eventually(async () => {
      const r = await channelRow(gw, 'azure-badkey');
      expect(r.status).toBe(3);
      return r;
    });
    expect(row.status_reason).toMatch(/^auth/);
    await eventually(async () => {
      const again = await client.chat.completions.create({ model: 'gpt-4o-badkey', messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e);
      expect(again.status).toBe(503);
    });
  });
});
