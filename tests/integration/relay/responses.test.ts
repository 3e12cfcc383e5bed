/**
 * POST /v1/responses (OpenAI's Responses API) through the official SDK: passed through to OpenAI channels, the
 * quota's cap in max_output_tokens, usage billed from the response, the input and answer stored, failover, a cut
 * stream, and models only other APIs serve.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import OpenAI from 'openai';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { channelRow, conversationMessages, conversationRow, quiesce, tokenUsedQuota } from '../providers/db.js';
import { responsesEvents, responsesSseFrame } from '../../helpers/responses-wire.js';

let upstream: MockUpstream;
let gw: TestGateway;
let client: OpenAI;
/** Another user's token in the same tenant. */
const ADMIN_TOKEN = 'lyss-test-admin-0123456789abcdef0123456789';
/** The same user's, allowed 3 requests a minute. */
const SLOW_TOKEN = 'lyss-test-slow-0123456789abcdef01234567890';

const common = { weight: 1, rate_limit: 100000, scope: 'tenant' };

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    env: { LYSS_COOLDOWN_FAILURES: '1000' },
    config: basicConfig(upstream.url, {
      channels: [
        { ...common, name: 'openai-main', type: 'openai', base_url: `${upstream.url}/main`, key: 'sk-main', models: ['gpt-5-mini'], model_mapping: { 'gpt-5-mini': 'gpt-5-mini-2025-08-07' }, priority: 10, quota: -1 },
        { ...common, name: 'openai-spare', type: 'openai', base_url: `${upstream.url}/spare`, key: 'sk-spare', models: ['gpt-5-mini'], priority: 5, quota: -1 },
        { ...common, name: 'openai-metered', type: 'openai', base_url: `${upstream.url}/metered`, key: 'sk-metered', models: ['gpt-metered'], priority: 10, quota: 1e9 },
        { ...common, name: 'openai-tight', type: 'openai', base_url: `${upstream.url}/tight`, key: 'sk-tight', models: ['gpt-tight'], priority: 10, quota: 20 },
        { ...common, name: 'deepseek', type: 'deepseek', base_url: upstream.url, key: 'sk-ds', models: ['deepseek-chat'], priority: 10, quota: -1 },
      ],
      tokens: [
        { name: 'ci', user: 'dev@acme.test', key: TEST_TOKEN, quota: -1, rate_limit: 100000 },
        { name: 'admin', user: 'admin@acme.test', key: ADMIN_TOKEN, quota: -1, rate_limit: 100000 },
        { name: 'slow', user: 'dev@acme.test', key: SLOW_TOKEN, quota: -1, rate_limit: 3 },
      ],
    }),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_TOKEN, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

describe('POST /v1/responses', () => {
  it('passes a request through to an OpenAI channel, the model mapped, and the Response back as it came', async () => {
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    const { data, response } = await client.responses
      .create({ model: 'gpt-5-mini', instructions: 'Be brief.', input: 'Tell me a joke.', reasoning: { effort: 'low' } })
      .withResponse();
    expect(data.object).toBe('response');
    expect(data.output_text).toBe(DEFAULT_REPLY);
    expect(data.usage).toMatchObject({ input_tokens: 12, output_tokens: 7, total_tokens: 19 });
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);

    const up = upstream.requests.at(-1)!;
    expect(up.path).toBe('/main/v1/responses');
    expect(up.headers.authorization).toBe('Bearer sk-main');
    // Unlimited quota: the request goes as the client wrote it, only the model mapped.
    expect(up.body).toEqual({ model: 'gpt-5-mini-2025-08-07', instructions: 'Be brief.', input: 'Tell me a joke.', reasoning: { effort: 'low' } });

    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + 19));
    const conversation = response.headers.get('x-lyss-conversation-id')!;
    const rows = await eventually(async () => {
      const r = await conversationMessages(gw, conversation);
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[0]).toMatchObject({ role: 'user', content: 'Tell me a joke.' });
    expect(rows[1]).toMatchObject({ role: 'assistant', content: DEFAULT_REPLY, token_count: 7, model_used: 'gpt-5-mini-2025-08-07' });
    expect(await conversationRow(gw, conversation)).toMatchObject({ token_usage: 19, message_count: 2, model_name: 'gpt-5-mini' });
  });

  it('streams the events byte for byte and bills the usage of response.completed', async () => {
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    upstream.script(() => ({ kind: 'reply', content: 'One two three four five.', usage: { prompt: 30, completion: 9 } }));
    const stream = await client.responses.create({ model: 'gpt-5-mini', input: [{ role: 'user', content: 'Count to five' }], stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    expect(events[0]!.type).toBe('response.created');
    expect(events.at(-1)!.type).toBe('response.completed');
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(text).toBe('One two three four five.');
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBe(before + 39));
  });

  it('caps max_output_tokens at what a finite quota reserved, and stores function calls and their outputs', async () => {
    upstream.script(() => ({ kind: 'reply', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Oslo"}' }] }));
    const { data, response } = await client.responses
      .create({
        model: 'gpt-metered',
        max_output_tokens: 500,
        tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }],
        input: [
          { role: 'user', content: [{ type: 'input_text', text: 'Weather in Oslo, then Bergen?' }] },
          { type: 'function_call', call_id: 'call_prev', name: 'get_weather', arguments: '{"city":"Bergen"}' },
          { type: 'function_call_output', call_id: 'call_prev', output: '4°C, rain' },
        ],
      })
      .withResponse();
    expect(data.output[0]).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Oslo"}' });
    expect(upstream.requests.at(-1)!.body.max_output_tokens).toBe(500);
    const rows = await eventually(async () => {
      const r = await conversationMessages(gw, response.headers.get('x-lyss-conversation-id')!);
      expect(r).toHaveLength(2);
      return r;
    });
    // The new messages are those after the last assistant turn (the earlier function call): its output.
    expect(rows[0]).toMatchObject({ role: 'tool', content: '4°C, rain' });
    expect(rows[1]!.tool_calls).toEqual([{ id: 'call_0xyz', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);

    // Without max_output_tokens the cap is the reservation's, never unbounded.
    await client.responses.create({ model: 'gpt-metered', input: 'Hi' });
    expect(upstream.requests.at(-1)!.body.max_output_tokens).toBe(4096);
  });

  it('never sends a max_output_tokens under the minimum of 16 the API takes: a quota without room for it refuses first', async () => {
    const err = await client.responses.create({ model: 'gpt-tight', input: 'Hi' }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBeGreaterThanOrEqual(400);
    expect(upstream.requests).toHaveLength(0);
  });

  it('fails over to the next channel when the first answers 500, and bills only the one that served', async () => {
    await quiesce(gw);
    const spareBefore = (await channelRow(gw, 'openai-spare')).used_quota;
    upstream.script((req) => (req.path.startsWith('/main') ? { kind: 'status', status: 500 } : undefined));
    const r = await client.responses.create({ model: 'gpt-5-mini', input: 'Hi' });
    expect(r.output_text).toBe(DEFAULT_REPLY);
    expect(upstream.requests.map((q) => q.path)).toEqual(['/main/v1/responses', '/spare/v1/responses']);
    await eventually(async () => expect((await channelRow(gw, 'openai-spare')).used_quota).toBe(spareBefore + 19));
  });

  it('a stream that fails after response.created, before any output, fails over: the client sees one whole stream', async () => {
    upstream.script((req) => (req.path.startsWith('/main') ? { kind: 'cut', afterChunks: 2 } : undefined));
    const stream = await client.responses.create({ model: 'gpt-5-mini', input: 'Hi', stream: true });
    const types: string[] = [];
    for await (const e of stream) types.push(e.type);
    expect(types.filter((t) => t === 'response.created')).toHaveLength(1);
    expect(types.at(-1)).toBe('response.completed');
    expect(upstream.requests.map((q) => q.path)).toEqual(['/main/v1/responses', '/spare/v1/responses']);
  });

  it('ends a stream cut after output with an error event, and bills what was said', async () => {
    await quiesce(gw);
    const before = await tokenUsedQuota(gw);
    upstream.script(() => ({ kind: 'cut', afterChunks: 6, content: 'A long answer that never ends', chunks: 5 }));
    const res = await fetch(`${gw.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5-mini', input: 'Go on', stream: true }),
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('event: response.output_text.delta');
    expect(body).not.toContain('response.completed');
    expect(body.endsWith('event: error\ndata: {"type":"error","code":"upstream_error","message":"The upstream stream was interrupted.","param":null}\n\n')).toBe(true);
    // Billed from a local count of the prompt and the text that reached the client: more than nothing.
    await eventually(async () => expect(await tokenUsedQuota(gw)).toBeGreaterThan(before));

    // An upstream that ends its body cleanly but without the final response was cut all the same.
    const delta = { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Half', logprobs: [] };
    upstream.script(() => ({ kind: 'raw', contentType: 'text/event-stream', body: `event: response.output_text.delta\ndata: ${JSON.stringify(delta)}\n\n` }));
    const early = await fetch(`${gw.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5-mini', input: 'Go on', stream: true }),
    });
    const earlyBody = await early.text();
    expect(earlyBody).toContain('"delta":"Half"');
    expect(earlyBody).toMatch(/event: error\ndata: \{"type":"error","code":"upstream_error"/);
  });

  it('a stream cut in the middle of an event: the client gets the whole events before it, then the error event', async () => {
    const events = responsesEvents({ model: 'gpt-5-mini', text: 'Some text that will be cut', usage: { input: 5, output: 6 } }, {}).map(responsesSseFrame);
    const whole = events.slice(0, 5).join('');
    upstream.script(() => ({ kind: 'raw', contentType: 'text/event-stream', body: events.join(''), cutAfterBytes: Buffer.byteLength(whole) + 20 }));
    const res = await fetch(`${gw.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5-mini', input: 'Go on', stream: true }),
    });
    expect(await res.text()).toBe(`${whole}event: error\ndata: {"type":"error","code":"upstream_error","message":"The upstream stream was interrupted.","param":null}\n\n`);
  });

  it('a model only other APIs serve: 404 that says so, no upstream called; an unknown model: 404', async () => {
    const err = await client.responses.create({ model: 'deepseek-chat', input: 'Hi' }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.error).toMatchObject({ code: 'model_not_found', param: 'model' });
    expect(err.message).toContain('do not offer the Responses API');
    const unknown = await client.responses.create({ model: 'nope', input: 'Hi' }).catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.message).toContain('does not exist');
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses a bad body in OpenAI shape, and only POST', async () => {
    const bad = await client.responses.create({ model: 'gpt-5-mini', input: 42 as unknown as string }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.error).toMatchObject({ param: 'input', code: 'invalid_type' });
    const get = await fetch(`${gw.baseURL}/responses`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    expect(get.status).toBe(405);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('stored responses', () => {
  /** A response stored by the spare channel: main (the higher tier) answers 500 to the first call. */
  async function storedOnSpare(stream = false): Promise<string> {
    upstream.script((req) => (req.path.startsWith('/main') && upstream.requests.length === 1 ? { kind: 'status', status: 500 } : undefined));
    let id: string;
    if (stream) {
      const events = await client.responses.create({ model: 'gpt-5-mini', input: 'Remember 42.', stream: true });
      id = '';
      for await (const e of events) if (e.type === 'response.completed') id = e.response.id;
    } else {
      id = (await client.responses.create({ model: 'gpt-5-mini', input: 'Remember 42.' })).id;
    }
    expect(upstream.requests.map((r) => r.path)).toEqual(['/main/v1/responses', '/spare/v1/responses']);
    upstream.reset();
    return id;
  }

  it('a follow-up naming a previous response goes to the channel that stored it, and GET/DELETE reach it too', async () => {
    const id = await storedOnSpare();
    const next = await client.responses.create({ model: 'gpt-5-mini', input: 'What number?', previous_response_id: id });
    expect(next.previous_response_id).toBe(id);
    expect(upstream.requests.map((r) => [r.path, r.headers.authorization])).toEqual([['/spare/v1/responses', 'Bearer sk-spare']]);

    upstream.reset();
    const got = await client.responses.retrieve(id, { include: ['message.output_text.logprobs'] });
    expect(got).toMatchObject({ id, object: 'response', output_text: DEFAULT_REPLY });
    const items = await client.responses.inputItems.list(id, { limit: 5 });
    expect(items.data[0]).toMatchObject({ type: 'message', role: 'user' });
    await client.responses.delete(id);
    expect(upstream.requests.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([
      ['GET', `/spare/v1/responses/${id}?include%5B%5D=message.output_text.logprobs`, 'Bearer sk-spare'],
      ['GET', `/spare/v1/responses/${id}/input_items?limit=5`, 'Bearer sk-spare'],
      ['DELETE', `/spare/v1/responses/${id}`, 'Bearer sk-spare'],
    ]);
    // Gone upstream: its 404 comes back as it is.
    const gone = await client.responses.retrieve(id).catch((e) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect(gone.message).toContain(`Response with id '${id}' not found.`);
  });

  it("GET counts against the token's per-minute limit, as any call upstream does", async () => {
    const slow = new OpenAI({ baseURL: gw.baseURL, apiKey: SLOW_TOKEN, maxRetries: 0 });
    const { id } = await slow.responses.create({ model: 'gpt-5-mini', input: 'Hi' });
    await slow.responses.retrieve(id);
    await slow.responses.retrieve(id);
    const limited = await slow.responses.retrieve(id).catch((e) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(upstream.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'GET']);
  });

  it('a streamed response is found again from its response.created', async () => {
    const id = await storedOnSpare(true);
    await client.responses.create({ model: 'gpt-5-mini', input: 'And now?', previous_response_id: id });
    expect(upstream.requests.map((r) => r.path)).toEqual(['/spare/v1/responses']);
  });

  it("another user's response is not found, and never reaches the upstream", async () => {
    const id = await storedOnSpare();
    const other = new OpenAI({ baseURL: gw.baseURL, apiKey: ADMIN_TOKEN, maxRetries: 0 });
    const get = await other.responses.retrieve(id).catch((e) => e);
    expect(get).toBeInstanceOf(OpenAI.NotFoundError);
    expect(get.error).toMatchObject({ message: `Response with id '${id}' not found.`, type: 'invalid_request_error' });
    const del = await other.responses.delete(id).catch((e) => e);
    expect(del).toBeInstanceOf(OpenAI.NotFoundError);
    const follow = await other.responses.create({ model: 'gpt-5-mini', input: 'Hi', previous_response_id: id }).catch((e) => e);
    expect(follow).toBeInstanceOf(OpenAI.BadRequestError);
    expect(follow.error).toMatchObject({ param: 'previous_response_id', code: 'previous_response_not_found' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('an id the gateway never noted is not found, and never reaches an upstream (which holds every user\'s)', async () => {
    const get = await client.responses.retrieve('resp_unknown').catch((e) => e);
    expect(get).toBeInstanceOf(OpenAI.NotFoundError);
    const follow = await client.responses.create({ model: 'gpt-5-mini', input: 'Hi', previous_response_id: 'resp_unknown' }).catch((e) => e);
    expect(follow).toBeInstanceOf(OpenAI.BadRequestError);
    expect(follow.error).toMatchObject({ message: "Previous response with id 'resp_unknown' not found.", param: 'previous_response_id', code: 'previous_response_not_found' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('a store that cannot be asked is a 503, not a guess', async () => {
    const id = await storedOnSpare();
    const down = vi.spyOn(gw.deps.relay.store, 'getValue').mockRejectedValue(new Error('limit store down'));
    try {
      expect((await client.responses.retrieve(id).catch((e) => e)).status).toBe(503);
      expect((await client.responses.create({ model: 'gpt-5-mini', input: 'Hi', previous_response_id: id }).catch((e) => e)).status).toBe(503);
    } finally {
      down.mockRestore();
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('a follow-up for a model its channel does not serve is a 400 that says so', async () => {
    const id = await storedOnSpare();
    const err = await client.responses.create({ model: 'gpt-metered', input: 'Hi', previous_response_id: id }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toMatchObject({ param: 'previous_response_id', code: 'invalid_value' });
    expect(upstream.requests).toHaveLength(0);
  });

  it("an upstream error on GET is judged as the relay judges any: the channel's key refused is a 502 that shows nothing of it", async () => {
    const id = await storedOnSpare();
    upstream.script(() => ({ kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided: sk-spare-****abcd.', type: 'invalid_request_error', code: 'invalid_api_key' } } }));
    const err = await client.responses.retrieve(id).catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.error).toMatchObject({ type: 'server_error', code: 'upstream_error' });
    expect(JSON.stringify(err.error)).not.toContain('sk-spare');
  });

  it('a response made with store: false is not noted; background responses are refused before any upstream call', async () => {
    const { id } = await client.responses.create({ model: 'gpt-5-mini', input: 'Hi', store: false });
    expect((await client.responses.retrieve(id).catch((e) => e)).status).toBe(404);
    const background = await client.responses.create({ model: 'gpt-5-mini', input: 'Hi', background: true }).catch((e) => e);
    expect(background).toBeInstanceOf(OpenAI.BadRequestError);
    expect(background.error).toMatchObject({ param: 'background', code: 'invalid_value' });
    expect(upstream.requests).toHaveLength(1);
  });
});
