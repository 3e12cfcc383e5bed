import { describe, it, expect } from 'vitest';
import { createParser } from 'eventsource-parser';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { toAnthropicRequest } from '../../../src/relay/adapters/anthropic/request.js';
import { fromAnthropicResponse } from '../../../src/relay/adapters/anthropic/response.js';
import { createAnthropicStreamTranslator } from '../../../src/relay/adapters/anthropic/stream.js';
import {
  anthropicToOpenAIRequest,
  createOpenAIToAnthropicStreamTranslator,
  openAIToAnthropicResponse,
} from '../../../src/relay/adapters/anthropic/inbound.js';
import type { OpenAIChunk } from '../../../src/relay/adapters/anthropic/wire.js';
import { anthropicMessage, anthropicSse, anthropicSseError, type AnthropicFixture } from '../../helpers/anthropic-wire.js';

/**
 * The pure layer end to end, with no socket: Anthropic's SSE text goes through eventsource-parser
 * (as the relay reads upstream bytes) into the translator, and the serialised output is handed to
 * the official SDKs through a custom `fetch`, so their stream accumulators validate it.
 */

/** Feeds SSE text in uneven slices, as a network would split it. */
function parseSse(text: string): Array<{ event: string | undefined; data: string }> {
  const events: Array<{ event: string | undefined; data: string }> = [];
  const parser = createParser({
    onEvent(e) {
      events.push({ event: e.event, data: e.data });
    },
  });
  for (let i = 0, size = 7; i < text.length; i += size, size = (size * 3) % 31 || 5) parser.feed(text.slice(i, i + size));
  return events;
}

function translateSse(sse: string, includeUsage: boolean) {
  const translator = createAnthropicStreamTranslator({ id: 'chatcmpl-e2e', model: 'claude-sonnet', created: 1_700_000_000, includeUsage });
  const chunks: OpenAIChunk[] = [];
  for (const e of parseSse(sse)) chunks.push(...translator.push(e.event, e.data));
  chunks.push(...translator.finish());
  return { translator, chunks };
}

/** What the relay would write to the client. */
function toOpenAISse(chunks: OpenAIChunk[]): string {
  return `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')}data: [DONE]\n\n`;
}

function fakeFetch(respond: (body: Record<string, unknown>) => Response) {
  const seen: Array<Record<string, unknown>> = [];
  const fetch = async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    seen.push(body);
    return respond(body);
  };
  return { fetch, seen };
}

const sseHeaders = { 'content-type': 'text/event-stream' };
const jsonHeaders = { 'content-type': 'application/json' };

const toolFixture: AnthropicFixture = {
  thinking: 'Need both cities.',
  text: 'I will check the weather in both cities.',
  toolUses: [
    { id: 'toolu_01Paris', name: 'get_weather', input: { location: 'Paris, France', unit: 'celsius' } },
    { id: 'toolu_01Rome', name: 'get_weather', input: { location: 'Rome, Italy', days: [1, 2, 3] } },
  ],
  stopReason: 'tool_use',
  usage: { input_tokens: 472, output_tokens: 89, cache_read_input_tokens: 2048, cache_creation_input_tokens: 16 },
};

describe('Anthropic channel, end to end through eventsource-parser and the OpenAI SDK', () => {
  it('reassembles a streamed tool-use answer exactly', async () => {
    const { chunks, translator } = translateSse(anthropicSse(toolFixture), true);
    expect(translator.error()).toBeNull();

    const { fetch } = fakeFetch(() => new Response(toOpenAISse(chunks), { headers: sseHeaders }));
    const client = new OpenAI({ apiKey: 'lyss-test', baseURL: 'http://gateway.test/v1', fetch, maxRetries: 0 });
    const stream = client.chat.completions.stream({
      model: 'claude-sonnet',
      messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();

    expect(final.id).toBe('chatcmpl-e2e');
    const choice = final.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBe('I will check the weather in both cities.');
    const calls = choice?.message.tool_calls ?? [];
    expect(calls.map((c) => (c.type === 'function' ? [c.id, c.function.name, JSON.parse(c.function.arguments)] : null))).toEqual([
      ['toolu_01Paris', 'get_weather', { location: 'Paris, France', unit: 'celsius' }],
      ['toolu_01Rome', 'get_weather', { location: 'Rome, Italy', days: [1, 2, 3] }],
    ]);
    expect(final.usage).toEqual({
      prompt_tokens: 2536,
      completion_tokens: 89,
      total_tokens: 2625,
      prompt_tokens_details: { cached_tokens: 2048, cache_write_tokens: 16 },
    });
  });

  it('streams plain text through the SDK iterator, with the cumulative message_delta form too', async () => {
    const fixture: AnthropicFixture = {
      text: 'Hello! How can I help you today?',
      stopReason: 'end_turn',
      usage: { input_tokens: 25, output_tokens: 15 },
      deltaUsage: 'cumulative',
    };
    const { chunks } = translateSse(anthropicSse(fixture), false);
    const { fetch } = fakeFetch(() => new Response(toOpenAISse(chunks), { headers: sseHeaders }));
    const client = new OpenAI({ apiKey: 'lyss-test', baseURL: 'http://gateway.test/v1', fetch, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    const finishes: string[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      const finish = chunk.choices[0]?.finish_reason;
      if (finish) finishes.push(finish);
    }
    expect(text).toBe('Hello! How can I help you today?');
    expect(finishes).toEqual(['stop']);
  });

  it('surfaces an overloaded error event mid-stream as a translator error', () => {
    const full = anthropicSse({ text: 'partial answer', stopReason: 'end_turn', usage: { input_tokens: 5, output_tokens: 2 } });
    // Cut after the first text delta and append Anthropic's error event.
    const cutAt = full.indexOf('event: content_block_stop');
    const { chunks, translator } = translateSse(full.slice(0, cutAt) + anthropicSseError('overloaded_error', 'Overloaded'), false);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('partial answer');
    expect(chunks.some((c) => c.choices[0]?.finish_reason)).toBe(false);
    expect(translator.error()).toMatchObject({ status: 503, code: 'upstream_overloaded' });
  });

  it('translates the request and a non-stream answer that the SDK parses', async () => {
    const { fetch, seen } = fakeFetch((body) => {
      // The gateway's path: OpenAI body -> Anthropic body -> (upstream) -> Anthropic Message -> OpenAI.
      const upstreamBody = toAnthropicRequest(body, { model: 'claude-sonnet-4-5-20250929', defaultMaxTokens: 1024 });
      seen.push(upstreamBody);
      const message = anthropicMessage({ ...toolFixture, id: 'msg_01XFDUDYJgAACzvnptvVoYEL' });
      return new Response(JSON.stringify(fromAnthropicResponse(message, { id: 'chatcmpl-e2e', model: String(body.model), created: 1 })), { headers: jsonHeaders });
    });
    const client = new OpenAI({ apiKey: 'lyss-test', baseURL: 'http://gateway.test/v1', fetch, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'claude-sonnet',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather?' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
      tool_choice: 'required',
    });
    expect(completion.choices[0]?.message.tool_calls).toHaveLength(2);
    expect(seen[1]).toMatchObject({
      model: 'claude-sonnet-4-5-20250929',
      system: 'Be brief.',
      max_tokens: 1024,
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'Weather?' }],
    });
  });
});

describe('Inbound Anthropic endpoint, end to end through the Anthropic SDK', () => {
  const openaiChunks = (): string[] => {
    const base = { id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o' };
    const c = (delta: Record<string, unknown>, finish: string | null = null) => JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
    return [
      c({ role: 'assistant', content: '' }),
      c({ content: 'Looking it up' }),
      c({ content: '.' }),
      c({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      c({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }),
      c({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
      c({}, 'tool_calls'),
      JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 } }),
      '[DONE]',
    ];
  };

  it('produces an SSE stream MessageStream accepts and accumulates', async () => {
    const { fetch, seen } = fakeFetch((body) => {
      const upstream = anthropicToOpenAIRequest(body);
      seen.push(upstream);
      const t = createOpenAIToAnthropicStreamTranslator({ id: 'req_e2e', model: String(body.model), inputTokens: 28 });
      const events = openaiChunks().flatMap((data) => t.push(data));
      events.push(...t.finish());
      const sse = events.map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join('');
      return new Response(sse, { headers: sseHeaders });
    });
    const client = new Anthropic({ apiKey: 'lyss-test', baseURL: 'http://gateway.test', fetch, maxRetries: 0 });
    const stream = client.messages.stream({
      model: 'lyss-claude',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }],
    });
    const message = await stream.finalMessage();

    expect(message.id).toBe('msg_reqe2e');
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toMatchObject([
      { type: 'text', text: 'Looking it up.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { location: 'Oslo' } },
    ]);
    expect(message.usage).toMatchObject({ input_tokens: 30, output_tokens: 12 });
    expect(seen[1]).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_tokens: 256 });
  });

  it('produces a non-stream Message the SDK returns as is', async () => {
    const { fetch } = fakeFetch((body) => {
      const completion = {
        id: 'chatcmpl-up',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o',
        choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', content: 'Hello there.', refusal: null } }],
        usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
      };
      return new Response(JSON.stringify(openAIToAnthropicResponse(completion, { id: 'msg_abc', model: String(body.model) })), { headers: jsonHeaders });
    });
    const client = new Anthropic({ apiKey: 'lyss-test', baseURL: 'http://gateway.test', fetch, maxRetries: 0 });
    const message = await client.messages.create({ model: 'lyss-claude', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
    expect(message.content).toMatchObject([{ type: 'text', text: 'Hello there.' }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({ input_tokens: 9, output_tokens: 3 });
  });
});
