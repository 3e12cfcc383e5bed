/**
 * Tool calls, non-stream and streamed: the SDK sees them as OpenAI sends them (streamed arguments reassemble
 * into the exact JSON), and the assistant message row in chat_messages carries them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type OpenAI from 'openai';
import { basicConfig, eventually, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { messageRows, raw, sdk, tenantIdOf } from '../../helpers/relay.js';

let upstream: MockUpstream;
let gw: TestGateway;
let tenantId: string;

const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
];
const CALLS = [
  { name: 'get_weather', arguments: '{"city":"Paris, France","unit":"celsius","days":[1,2,3]}' },
  { name: 'get_time', arguments: '{"tz":"Europe/Rome"}' },
];
const expectedToolCalls = CALLS.map((c, i) => ({ id: `call_${i}`, type: 'function', function: c }));

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({ config: basicConfig(upstream.url) });
  tenantId = await tenantIdOf(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => {
  upstream.reset();
  upstream.script(() => ({ kind: 'reply', toolCalls: CALLS, usage: { prompt: 40, completion: 22 } }));
});

async function assistantRow(conversationId: string) {
  return eventually(async () => {
    const rows = await messageRows(gw, tenantId, conversationId);
    const assistant = rows.find((r) => r.role === 'assistant');
    if (!assistant) throw new Error('no assistant row yet');
    return { rows, assistant };
  });
}

describe('tool calls', () => {
  it('non-stream: tool_calls reach the client and the assistant row', async () => {
    const { data, response } = await sdk(gw)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Weather and time?' }], tools: TOOLS })
      .withResponse();
    expect(data.choices[0]!.finish_reason).toBe('tool_calls');
    expect(data.choices[0]!.message.tool_calls).toEqual(expectedToolCalls);
    expect(upstream.requests[0]!.body.tools).toEqual(TOOLS);

    const conversationId = response.headers.get('x-lyss-conversation-id')!;
    const { rows, assistant } = await assistantRow(conversationId);
    expect(rows.map((r) => r.role)).toEqual(['user', 'assistant']);
    expect(assistant.toolCalls).toEqual(expectedToolCalls);
    expect(assistant.tokenCount).toBe(22);
    expect(assistant.content).toBe('');
  });

  it('stream: the SDK reassembles the streamed arguments into the exact JSON', async () => {
    const { data, response } = await sdk(gw)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Weather and time?' }], tools: TOOLS, stream: true })
      .withResponse();
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of data) chunks.push(c);
    // Arguments arrive in pieces...
    const argumentPieces = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).filter((t) => t.function?.arguments);
    expect(argumentPieces.length).toBeGreaterThan(CALLS.length);

    // ...and the SDK's own accumulator puts them back together.
    const runner = sdk(gw).chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Weather and time?' }], tools: TOOLS });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.tool_calls).toEqual(expectedToolCalls);
    expect(final.choices[0]!.message.tool_calls!.map((t) => JSON.parse((t as { function: { arguments: string } }).function.arguments))).toEqual(CALLS.map((c) => JSON.parse(c.arguments)));
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');

    const { assistant } = await assistantRow(response.headers.get('x-lyss-conversation-id')!);
    expect(assistant.toolCalls).toEqual(expectedToolCalls);
    expect(assistant.tokenCount).toBe(22);
  });

  it('a tool result continuing the conversation is recorded with its tool_call_id', async () => {
    upstream.script(() => ({ kind: 'reply', content: 'Sunny, 21°C; it is 14:05 in Rome.', usage: { prompt: 80, completion: 12 } }));
    const first = await sdk(gw)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'go' }] })
      .withResponse();
    const conversationId = first.response.headers.get('x-lyss-conversation-id')!;
    const client = sdk(gw, undefined, { defaultHeaders: { 'x-lyss-conversation-id': conversationId } });
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: TOOLS,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: null, tool_calls: expectedToolCalls as never },
        { role: 'tool', tool_call_id: 'call_0', content: '{"temp":21}' },
        { role: 'tool', tool_call_id: 'call_1', content: '{"time":"14:05"}' },
      ],
    });
    const rows = await eventually(async () => {
      const r = await messageRows(gw, tenantId, conversationId);
      if (r.length < 5) throw new Error(`only ${r.length} rows`);
      return r;
    });
    expect(rows.map((r) => [r.role, r.toolCallId ?? null])).toEqual([
      ['user', null],
      ['assistant', null],
      ['tool', 'call_0'],
      ['tool', 'call_1'],
      ['assistant', null],
    ]);
    expect(rows[2]!.content).toBe('{"temp":21}');
    expect(rows[4]!.content).toBe('Sunny, 21°C; it is 14:05 in Rome.');
  });

  it('a replayed turn whose tool fields are null (as many clients send them) goes up as written', async () => {
    upstream.script(() => ({ kind: 'reply', content: 'Again.', usage: { prompt: 20, completion: 2 } }));
    const messages = [
      { role: 'user', content: 'hi', tool_call_id: null },
      { role: 'assistant', content: 'Hello.', tool_calls: null },
      { role: 'user', content: 'again' },
    ];
    const r = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: messages as never });
    expect(r.choices[0]!.message.content).toBe('Again.');
    expect(upstream.requests[0]!.body.messages).toEqual(messages);
  });
});

describe('tool schemas nested past what the gateway walks', () => {
  it('is a 400 on every endpoint, in its own shape, and nothing goes upstream', async () => {
    // The body, tools, the tool and its function are four levels: parameters 252 deep reach 256, the limit.
    const fits = `${'{"a":'.repeat(252)}1${'}'.repeat(252)}`;
    const deep = `${'{"a":'.repeat(253)}1${'}'.repeat(253)}`;
    const ok = await raw(gw, '/v1/chat/completions', { body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${fits}}}]}` });
    expect(ok.status).toBe(200);
    upstream.reset();
    const deeper = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const tool = `{"type":"function","function":{"name":"f","parameters":${deep}}}`;
    const bodies: [string, string][] = [
      ['/v1/chat/completions', `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[${tool}]}`],
      ['/v1/chat/completions', `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"tools":[${tool}]}`],
      ['/v1/embeddings', `{"model":"gpt-4o-mini","input":"hi","extra":${deeper}}`],
    ];
    for (const [path, body] of bodies) {
      const res = await raw(gw, path, { body });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: { message: 'The request body is nested too deeply (more than 256 levels).', type: 'invalid_request_error', param: null, code: 'invalid_request_error' } });
    }
    const anthropic = await raw(gw, '/v1/messages', { body: `{"model":"gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"properties":${deep}}}]}` });
    expect(anthropic.status).toBe(400);
    expect(await anthropic.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'The request body is nested too deeply (more than 256 levels).' } });
    expect(upstream.requests).toHaveLength(0);
  });
});
