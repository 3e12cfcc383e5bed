import { describe, it, expect } from 'vitest';
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import {
  anthropicToOpenAIRequest,
  createOpenAIToAnthropicStreamTranslator,
  openAIErrorToAnthropic,
  openAIToAnthropicResponse,
  type AnthropicSseEvent,
} from '../../../src/relay/adapters/anthropic/inbound.js';
import { AdapterRequestError } from '../../../src/relay/adapters/anthropic/errors.js';

function translate(body: Record<string, unknown>): Record<string, unknown> {
  return anthropicToOpenAIRequest(body);
}

describe('anthropicToOpenAIRequest', () => {
  it('turns system into a system message and keeps the model, max_tokens, stop_sequences and sampling', () => {
    const out = translate({
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: [
        { type: 'text', text: 'You are terse.' },
        { type: 'text', text: 'Answer in English.', cache_control: { type: 'ephemeral' } },
      ],
      messages: [{ role: 'user', content: 'Hello' }],
      stop_sequences: ['END'],
      temperature: 0.2,
      top_k: 5,
      metadata: { user_id: 'u-1' },
    });
    expect(out).toEqual({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'You are terse.\n\nAnswer in English.' },
        { role: 'user', content: 'Hello' },
      ],
      max_tokens: 1024,
      stop: ['END'],
      temperature: 0.2,
      user: 'u-1',
    });
  });

  it('asks an OpenAI upstream for usage when streaming', () => {
    const out = translate({ model: 'm', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(out.stream).toBe(true);
    expect(out.stream_options).toEqual({ include_usage: true });
  });

  it('turns tool_use blocks into tool_calls and tool_result blocks into tool messages before the user text', () => {
    const out = translate({
      model: 'm',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'call the tool', signature: 'sig' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '12:00' }], is_error: false },
            { type: 'text', text: 'And tomorrow?' },
          ],
        },
      ],
    });
    expect(out.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
      { role: 'tool', tool_call_id: 'toolu_2', content: '12:00' },
      { role: 'user', content: 'And tomorrow?' },
    ]);
  });

  it('turns image blocks (base64 and url) into image_url parts, including images from tool results', () => {
    const out = translate({
      model: 'm',
      max_tokens: 10,
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'screenshot', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } }] },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
            { type: 'text', text: 'Compare' },
          ],
        },
      ],
    });
    expect(out.messages).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'screenshot', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: '' },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } },
          { type: 'text', text: 'Compare' },
        ],
      },
    ]);
  });

  it('maps tools and each tool_choice, and disable_parallel_tool_use', () => {
    const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
    const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], tools };
    expect(translate(base).tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ]);
    expect(translate({ ...base, tool_choice: { type: 'auto' } }).tool_choice).toBe('auto');
    expect(translate({ ...base, tool_choice: { type: 'any' } }).tool_choice).toBe('required');
    expect(translate({ ...base, tool_choice: { type: 'none' } }).tool_choice).toBe('none');
    expect(translate({ ...base, tool_choice: { type: 'tool', name: 'get_weather' } }).tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    expect(translate({ ...base, tool_choice: { type: 'auto', disable_parallel_tool_use: true } }).parallel_tool_calls).toBe(false);
  });

  it('accepts system turns inside messages (API version 2026-10-21)', () => {
    const out = translate({ model: 'm', max_tokens: 10, messages: [{ role: 'system', content: 'Be nice.' }, { role: 'user', content: 'hi' }] });
    expect(out.messages).toEqual([
      { role: 'system', content: 'Be nice.' },
      { role: 'user', content: 'hi' },
    ]);
  });

  it('carries structured outputs over as a strict json_schema response_format, and leaves effort and thinking behind', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const out = translate({
      model: 'm',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
      thinking: { type: 'enabled', budget_tokens: 2048 },
      output_config: { effort: 'high', format: { type: 'json_schema', schema } },
    });
    expect(out.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema, strict: true } });
    expect(out).not.toHaveProperty('reasoning_effort');
    expect(out).not.toHaveProperty('thinking');
    expect(translate({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], output_config: { effort: 'low' } })).not.toHaveProperty('response_format');
    expect(() => translate({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], output_config: { format: { type: 'xml' } } })).toThrow(AdapterRequestError);
  });

  it('rejects server tools an OpenAI channel cannot run', () => {
    expect(() =>
      translate({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
    ).toThrow(AdapterRequestError);
  });
});

describe('openAIToAnthropicResponse', () => {
  const completion: OpenAI.Chat.ChatCompletion = {
    id: 'chatcmpl-xyz',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-2024-08-06',
    choices: [
      {
        index: 0,
        finish_reason: 'tool_calls',
        logprobs: null,
        message: {
          role: 'assistant',
          content: 'Let me look.',
          refusal: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
        },
      },
    ],
    usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150, prompt_tokens_details: { cached_tokens: 100 } },
  };

  it('builds a Message with text and tool_use blocks the Anthropic SDK type accepts', () => {
    const out = openAIToAnthropicResponse(completion, { id: 'req123', model: 'claude-sonnet-4-5' });
    const typed: Anthropic.Message = out;
    expect(typed.id).toBe('msg_req123');
    expect(out).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 20, cache_read_input_tokens: 100, cache_creation_input_tokens: 0, output_tokens: 30 },
    });
  });

  it('puts the reasoning an OpenAI-compatible model showed first, as a thinking block', () => {
    const withReasoning = (field: string) => ({
      ...completion,
      choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', content: 'Oslo.', refusal: null, [field]: 'The capital is Oslo.' } }],
    });
    for (const field of ['reasoning_content', 'reasoning']) {
      const out = openAIToAnthropicResponse(withReasoning(field), { id: 'req1', model: 'm' });
      const typed: Anthropic.Message = out;
      expect(typed.content).toEqual([
        { type: 'thinking', thinking: 'The capital is Oslo.', signature: '' },
        { type: 'text', text: 'Oslo.', citations: null },
      ]);
    }
    expect(openAIToAnthropicResponse(completion, { id: 'req1', model: 'm' }).content.map((b) => b.type)).toEqual(['text', 'tool_use']);
  });

  it.each([
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['content_filter', 'refusal'],
    ['tool_calls', 'tool_use'],
  ] as const)('maps finish_reason %s to stop_reason %s', (finish, stop) => {
    const c = { ...completion, choices: [{ index: 0, finish_reason: finish, logprobs: null, message: { role: 'assistant', content: 'x', refusal: null } }] };
    expect(openAIToAnthropicResponse(c, { id: 'msg_1', model: 'm' }).stop_reason).toBe(stop);
  });
});

describe('createOpenAIToAnthropicStreamTranslator', () => {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o' };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const openaiStream = [
    chunk({ role: 'assistant', content: '', refusal: null }),
    chunk({ content: 'Checking' }),
    chunk({ content: ' both.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] }),
    chunk({}, 'tool_calls'),
    { ...base, choices: [], usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70, prompt_tokens_details: { cached_tokens: 10 } } },
  ];

  function runAll(): AnthropicSseEvent[] {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'abc', model: 'claude-sonnet-4-5', inputTokens: 45 });
    const events = openaiStream.flatMap((c) => t.push(JSON.stringify(c)));
    events.push(...t.push('[DONE]'));
    expect(t.finish()).toEqual([]);
    expect(t.usage()).toMatchObject({ prompt_tokens: 50, completion_tokens: 20 });
    return events;
  }

  it('emits Anthropic events in the documented order', () => {
    expect(runAll().map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  it('carries the data each event needs', () => {
    const events = runAll();
    for (const e of events) expect(e.data.type).toBe(e.event);
    expect(events[0]?.data).toMatchObject({ message: { id: 'msg_abc', role: 'assistant', content: [], model: 'claude-sonnet-4-5', stop_reason: null, usage: { input_tokens: 45, output_tokens: 0 } } });
    expect(events[1]?.data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } });
    expect(events[3]?.data).toEqual({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Checking' } });
    expect(events[6]?.data).toMatchObject({ index: 1, content_block: { type: 'tool_use', id: 'call_a', name: 'get_weather', input: {} } });
    expect(events[8]?.data).toEqual({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } });
    expect(events[10]?.data).toMatchObject({ index: 2, content_block: { id: 'call_b' } });
    expect(events[11]?.data).toMatchObject({ index: 2, delta: { partial_json: '{"city":"Rome"}' } });
    expect(events[13]?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 40, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 10, output_tokens_details: null },
    });
  });

  it('parallel calls streamed side by side: the first streams, the others follow whole, no block gets input once closed', () => {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'abc', model: 'm' });
    const events = [
      chunk({ role: 'assistant', content: null }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{"tz":"CET"}' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({}, 'tool_calls'),
    ].flatMap((c) => t.push(JSON.stringify(c)));
    events.push(...t.push('[DONE]'));
    const closed = new Set<unknown>();
    for (const e of events) {
      if (e.event === 'content_block_stop') closed.add(e.data.index);
      if (e.event === 'content_block_delta') expect(closed.has(e.data.index)).toBe(false);
    }
    const blocks = events.filter((e) => e.event.startsWith('content_block')).map((e) => [e.event.slice(14), e.data.index, (e.data.delta as { partial_json?: string })?.partial_json ?? (e.data.content_block as { id?: string })?.id]);
    expect(blocks).toEqual([
      ['start', 0, 'call_a'],
      ['delta', 0, '{"city":'],
      ['delta', 0, '"Paris"}'],
      ['stop', 0, undefined],
      ['start', 1, 'call_b'],
      ['delta', 1, '{"tz":"CET"}'],
      ['stop', 1, undefined],
    ]);
    expect(events.find((e) => e.event === 'message_delta')?.data).toMatchObject({ delta: { stop_reason: 'tool_use' } });
  });

  it('text between a call\'s fragments waits for the calls: the call stays one block, with its id, name and whole input', () => {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'abc', model: 'm' });
    const events = [
      chunk({ content: 'Let me check.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"x":' } }] }),
      chunk({ content: '\n' }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      chunk({ content: ' Done.' }),
      chunk({}, 'tool_calls'),
    ].flatMap((c) => t.push(JSON.stringify(c)));
    events.push(...t.push('[DONE]'));
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => (e.data.content_block as { type: string }).type);
    expect(starts).toEqual(['text', 'tool_use', 'text']);
    const input = events.filter((e) => e.event === 'content_block_delta' && e.data.index === 1).map((e) => (e.data.delta as { partial_json: string }).partial_json);
    expect(input.join('')).toBe('{"x":1}');
    const after = events.filter((e) => e.event === 'content_block_delta' && e.data.index === 2).map((e) => (e.data.delta as { text: string }).text);
    expect(after).toEqual(['\n Done.']);
  });

  it('a tool call cut off by the token limit ends with max_tokens, streamed and not', () => {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'abc', model: 'm' });
    const events = [
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Par' } }] }),
      chunk({}, 'length'),
    ].flatMap((c) => t.push(JSON.stringify(c)));
    events.push(...t.push('[DONE]'));
    expect(events.find((e) => e.event === 'message_delta')?.data).toMatchObject({ delta: { stop_reason: 'max_tokens' } });
    const whole = {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, finish_reason: 'length', logprobs: null, message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a": "b' } }] } }],
    };
    expect(openAIToAnthropicResponse(whole, { id: 'x', model: 'm' }).stop_reason).toBe('max_tokens');
  });

  it('streams reasoning deltas as a thinking block before the text', () => {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'abc', model: 'm' });
    const events = [
      chunk({ role: 'assistant', content: null, reasoning_content: 'Two ' }),
      chunk({ reasoning_content: 'cities.' }),
      chunk({ reasoning: 'vLLM names it reasoning.' }),
      chunk({ content: 'Paris and Rome.' }),
      chunk({}, 'stop'),
    ].flatMap((c) => t.push(JSON.stringify(c)));
    events.push(...t.push('[DONE]'));
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[1]?.data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } });
    expect(events.slice(3, 6).map((e) => e.data)).toEqual(
      ['Two ', 'cities.', 'vLLM names it reasoning.'].map((thinking) => ({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking } })),
    );
    expect(events[7]?.data).toMatchObject({ index: 1, content_block: { type: 'text' } });
  });

  it('reports reasoning tokens as output_tokens_details.thinking_tokens, streamed and not', () => {
    const usage = { prompt_tokens: 10, completion_tokens: 50, total_tokens: 60, completion_tokens_details: { reasoning_tokens: 42 } };
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'abc', model: 'm' });
    const events = [chunk({ content: 'ok' }), chunk({}, 'stop'), { ...base, choices: [], usage }].flatMap((c) => t.push(JSON.stringify(c)));
    events.push(...t.push('[DONE]'));
    expect(events.find((e) => e.event === 'message_delta')?.data.usage).toMatchObject({ output_tokens: 50, output_tokens_details: { thinking_tokens: 42 } });
    expect(t.usage()).toMatchObject({ completion_tokens_details: { reasoning_tokens: 42 } });
    const message = openAIToAnthropicResponse(
      { choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }], usage },
      { id: 'x', model: 'm' },
    );
    expect(message.usage.output_tokens_details).toEqual({ thinking_tokens: 42 });
  });

  it('closes the message on finish() when [DONE] never came but a finish_reason did', () => {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'msg_x', model: 'm' });
    t.push(chunk({ role: 'assistant', content: 'Hi' }));
    t.push(chunk({}, 'length'));
    const tail = t.finish();
    expect(tail.map((e) => e.event)).toEqual(['message_delta', 'message_stop']);
    expect(tail[0]?.data).toMatchObject({ delta: { stop_reason: 'max_tokens' } });
  });

  it('ends a cut stream with an error event', () => {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'msg_x', model: 'm' });
    t.push(chunk({ role: 'assistant', content: 'Hi' }));
    const tail = t.finish();
    expect(tail).toEqual([{ event: 'error', data: { type: 'error', error: { type: 'api_error', message: expect.any(String) } } }]);
    expect(t.error()).toMatchObject({ code: 'upstream_stream_incomplete' });
  });

  it('turns an in-stream OpenAI error into an Anthropic error event', () => {
    const t = createOpenAIToAnthropicStreamTranslator({ id: 'msg_x', model: 'm' });
    const out = t.push(JSON.stringify({ error: { message: 'Rate limit reached', type: 'rate_limit_error' } }));
    expect(out).toEqual([{ event: 'error', data: { type: 'error', error: { type: 'rate_limit_error', message: 'Rate limit reached' } } }]);
    expect(t.push('[DONE]')).toEqual([]);
  });
});

describe('openAIErrorToAnthropic', () => {
  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [402, 'billing_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [413, 'request_too_large'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [502, 'api_error'],
    [503, 'overloaded_error'],
    [504, 'timeout_error'],
  ])('maps status %i to %s', (status, type) => {
    expect(openAIErrorToAnthropic(status, { message: 'm', type: 'whatever' })).toEqual({ type: 'error', error: { type, message: 'm' } });
  });
});
