/**
 * Non-stream chat completions through the official SDK: the client gets the upstream's answer unchanged,
 * the upstream gets the client's request unchanged (model mapped; the channel's key, never the Lyss token).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { basicConfig, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { raw, sdk } from '../../helpers/relay.js';

let upstream: MockUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    config: basicConfig(upstream.url, {
      channel: { models: ['gpt-4o-mini', 'gpt-4o'], model_mapping: { 'gpt-4o': 'gpt-4o-2024-08-06' } },
    }),
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

describe('POST /v1/chat/completions, non-stream', () => {
  it('returns the upstream answer exactly as OpenAI would, with x-request-id', async () => {
    const { data, response } = await sdk(gw)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] })
      .withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    expect(data).toEqual({
      id: 'chatcmpl-mock',
      object: 'chat.completion',
      created: 1700000000,
      model: 'gpt-4o-mini',
      system_fingerprint: 'fp_mock',
      choices: [{ index: 0, message: { role: 'assistant', content: DEFAULT_REPLY, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 7,
        total_tokens: 19,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
    });
    expect(upstream.requests).toHaveLength(1);
  });

  it('answers with the bytes upstream sent, untouched', async () => {
    const body = '{"id":"chatcmpl-x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"caf\\u00e9 ☕"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"x_vendor":{"a":[1,2]}}';
    upstream.script(() => ({ kind: 'raw', contentType: 'application/json', body }));
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
  });

  it('echoes a client-supplied x-request-id', async () => {
    const { response } = await sdk(gw, TEST_TOKEN, { defaultHeaders: { 'x-request-id': 'client-trace-42' } })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(response.headers.get('x-request-id')).toBe('client-trace-42');
  });

  it('passes every request field through untouched, except the mapped model', async () => {
    const request = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      ],
      temperature: 0.3,
      top_p: 0.9,
      seed: 1234,
      user: 'end-user-77',
      logprobs: true,
      top_logprobs: 3,
      stop: ['\n\n', 'END'],
      presence_penalty: 0.1,
      frequency_penalty: -0.2,
      logit_bias: { '50256': -100 },
      max_tokens: 321,
      n: 1,
      parallel_tool_calls: false,
      tool_choice: 'auto',
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            strict: true,
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
          },
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false } },
      },
      metadata: { team: 'qa' },
      // Vendor extensions the gateway knows nothing about.
      enable_thinking: true,
      vendor_options: { nested: [1, 'two', { three: null }] },
    };
    await sdk(gw).chat.completions.create(request as never);
    expect(upstream.requests).toHaveLength(1);
    const got = upstream.requests[0]!;
    expect(got.path).toBe('/v1/chat/completions');
    expect(got.body).toEqual({ ...request, model: 'gpt-4o-2024-08-06' });
  });

  it('calls upstream with the channel key, never the Lyss token', async () => {
    await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const got = upstream.requests[0]!;
    expect(got.headers.authorization).toBe('Bearer sk-upstream-key-main');
    expect(JSON.stringify(got.headers)).not.toContain(TEST_TOKEN);
    expect(JSON.stringify(got.body)).not.toContain(TEST_TOKEN);
  });

  it('accepts the token in x-api-key too', async () => {
    const res = await raw(gw, '/v1/chat/completions', {
      token: null,
      headers: { 'x-api-key': TEST_TOKEN },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(DEFAULT_REPLY);
  });
});
