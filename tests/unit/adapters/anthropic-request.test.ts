import { describe, it, expect } from 'vitest';
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { anthropicHeaders, toAnthropicRequest } from '../../../src/relay/adapters/anthropic/request.js';
import { AdapterRequestError } from '../../../src/relay/adapters/anthropic/errors.js';

const opts = { model: 'claude-sonnet-4-5-20250929', defaultMaxTokens: 4096 };

function translate(body: OpenAI.Chat.ChatCompletionCreateParams | Record<string, unknown>): Record<string, unknown> {
  return toAnthropicRequest(body as Record<string, unknown>, opts);
}

describe('toAnthropicRequest: messages', () => {
  it('hoists system and developer messages into a top-level system', () => {
    const one = translate({ model: 'gpt-4o', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] });
    expect(one.system).toBe('Be brief.');
    expect(one.messages).toEqual([{ role: 'user', content: 'Hi' }]);

    const many = translate({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hi' },
      ],
    });
    expect(many.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Answer in French.' },
    ]);
  });

  it('omits system when there is none, and uses the mapped model', () => {
    const out = translate({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    expect(out).not.toHaveProperty('system');
    expect(out.model).toBe('claude-sonnet-4-5-20250929');
  });

  it('merges consecutive same-role messages so roles alternate', () => {
    const out = translate({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'one' },
        { role: 'user', content: [{ type: 'text', text: 'two' }] },
        { role: 'assistant', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'three' },
      ],
    });
    expect(out.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      { role: 'user', content: 'three' },
    ]);
  });

  it('drops empty content instead of sending empty text blocks', () => {
    const out = translate({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'user', content: '' },
        { role: 'user', content: [{ type: 'text', text: '' }] },
      ],
    });
    expect(out.messages).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  it('translates data: images to base64 sources and http(s) images to url sources', () => {
    const out = translate({
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'data:image/jpg;base64,/9j/4AAQ', detail: 'high' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.webp' } },
          ],
        },
      ],
    });
    expect(out.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.webp' } },
        ],
      },
    ]);
  });

  it('rejects images Anthropic cannot take, and audio parts, with a 400-shaped error', () => {
    const bad = (content: unknown[]): (() => unknown) => () => translate({ model: 'x', messages: [{ role: 'user', content }] });
    expect(bad([{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }])).toThrow(AdapterRequestError);
    expect(bad([{ type: 'image_url', image_url: { url: 'data:image/png,notbase64' } }])).toThrow(AdapterRequestError);
    expect(bad([{ type: 'image_url', image_url: { url: 'ftp://example.com/x.png' } }])).toThrow(AdapterRequestError);
    try {
      bad([{ type: 'input_audio', input_audio: { data: 'AAA', format: 'wav' } }])();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AdapterRequestError);
      expect((err as AdapterRequestError).status).toBe(400);
      expect((err as AdapterRequestError).param).toBe('messages[0].content[0].type');
    }
  });

  it('turns inline PDF file parts into document blocks', () => {
    const out = translate({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0x' } }] }],
    });
    expect(out.messages).toEqual([
      { role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' } }] },
    ]);
  });

  it('turns assistant tool_calls into tool_use blocks and tool messages into tool_result user turns', () => {
    const out = translate({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_rome', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_paris', content: '18C' },
        { role: 'tool', tool_call_id: 'call_rome', content: [{ type: 'text', text: '24C' }] },
        { role: 'user', content: 'Thanks' },
      ],
    });
    expect(out.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'call_paris', name: 'get_weather', input: { city: 'Paris' } },
          // Truncated JSON arguments become {} rather than failing the conversation.
          { type: 'tool_use', id: 'call_rome', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_paris', content: '18C' },
          { type: 'tool_result', tool_use_id: 'call_rome', content: [{ type: 'text', text: '24C' }] },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
  });

  it('puts tool_result blocks first in a merged user turn and sanitises ids Anthropic would reject', () => {
    const out = translate({
      model: 'x',
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'functions.lookup:0', type: 'function', function: { name: 'lookup', arguments: '{}' } }] },
        { role: 'user', content: 'also this' },
        { role: 'tool', tool_call_id: 'functions.lookup:0', content: 'done' },
      ],
    });
    const messages = out.messages as Anthropic.MessageParam[];
    expect(messages[1]).toEqual({ role: 'assistant', content: [{ type: 'tool_use', id: 'functions_lookup_0', name: 'lookup', input: {} }] });
    expect(messages[2]).toEqual({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'functions_lookup_0', content: 'done' },
        { type: 'text', text: 'also this' },
      ],
    });
  });

  it('rejects unknown roles and n > 1', () => {
    expect(() => translate({ model: 'x', messages: [{ role: 'function', name: 'f', content: '1' }] })).toThrow(AdapterRequestError);
    expect(() => translate({ model: 'x', n: 2, messages: [{ role: 'user', content: 'hi' }] })).toThrow(/n > 1/);
  });

  it('rejects a conversation of system messages only, naming messages', () => {
    const attempt = () => translate({ model: 'x', messages: [{ role: 'system', content: 'Be brief.' }] });
    expect(attempt).toThrow(AdapterRequestError);
    expect(attempt).toThrow(/at least one user or assistant message/);
  });
});

describe('toAnthropicRequest: tools', () => {
  const tools: OpenAI.Chat.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
    { type: 'function', function: { name: 'now' } },
  ];

  it('maps function tools to name/description/input_schema', () => {
    const out = translate({ model: 'x', messages: [{ role: 'user', content: 'hi' }], tools });
    expect(out.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Current weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(out).not.toHaveProperty('tool_choice');
  });

  it.each([
    ['auto', { type: 'auto' }],
    ['none', { type: 'none' }],
    ['required', { type: 'any' }],
    [{ type: 'function', function: { name: 'get_weather' } }, { type: 'tool', name: 'get_weather' }],
  ] as const)('maps tool_choice %j', (choice, expected) => {
    const out = translate({ model: 'x', messages: [{ role: 'user', content: 'hi' }], tools, tool_choice: choice });
    expect(out.tool_choice).toEqual(expected);
  });

  it('maps parallel_tool_calls: false to disable_parallel_tool_use', () => {
    const base = { model: 'x', messages: [{ role: 'user', content: 'hi' }], tools, parallel_tool_calls: false };
    expect(translate(base).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(translate({ ...base, tool_choice: 'required' }).tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    // tool_choice none has no such field
    expect(translate({ ...base, tool_choice: 'none' }).tool_choice).toEqual({ type: 'none' });
  });

  it('sends no tool_choice when there are no tools', () => {
    const out = translate({ model: 'x', messages: [{ role: 'user', content: 'hi' }], tool_choice: 'auto' });
    expect(out).not.toHaveProperty('tools');
    expect(out).not.toHaveProperty('tool_choice');
  });

  it('rejects custom (non-function) tools', () => {
    expect(() =>
      translate({ model: 'x', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'custom', custom: { name: 'grammar' } }] }),
    ).toThrow(AdapterRequestError);
  });
});

describe('toAnthropicRequest: parameters', () => {
  const messages = [{ role: 'user', content: 'hi' }];

  it('uses max_completion_tokens, then max_tokens, then the default', () => {
    expect(translate({ model: 'x', messages }).max_tokens).toBe(4096);
    expect(translate({ model: 'x', messages, max_tokens: 100 }).max_tokens).toBe(100);
    expect(translate({ model: 'x', messages, max_tokens: 100, max_completion_tokens: 200 }).max_tokens).toBe(200);
  });

  it('turns stop (string or array) into stop_sequences, dropping whitespace-only ones', () => {
    expect(translate({ model: 'x', messages, stop: 'END' }).stop_sequences).toEqual(['END']);
    expect(translate({ model: 'x', messages, stop: ['A', '\n', '', 'B'] }).stop_sequences).toEqual(['A', 'B']);
    expect(translate({ model: 'x', messages, stop: '\n\n' })).not.toHaveProperty('stop_sequences');
  });

  it('clamps temperature to 0..1 and sends top_p only without temperature', () => {
    expect(translate({ model: 'x', messages, temperature: 1.7 }).temperature).toBe(1);
    expect(translate({ model: 'x', messages, temperature: -1 }).temperature).toBe(0);
    const both = translate({ model: 'x', messages, temperature: 0.3, top_p: 0.9 });
    expect(both.temperature).toBe(0.3);
    expect(both).not.toHaveProperty('top_p');
    expect(translate({ model: 'x', messages, top_p: 0.9 }).top_p).toBe(0.9);
  });

  it('keeps stream, maps user to metadata.user_id, and drops OpenAI-only fields', () => {
    const out = translate({
      model: 'x',
      messages,
      stream: true,
      stream_options: { include_usage: true },
      user: 'user-42',
      frequency_penalty: 1,
      seed: 7,
      logprobs: true,
    });
    expect(out).toEqual({
      model: 'claude-sonnet-4-5-20250929',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4096,
      stream: true,
      metadata: { user_id: 'user-42' },
    });
  });
});

describe('toAnthropicRequest: reasoning and structured outputs', () => {
  const messages = [{ role: 'user', content: 'hi' }];
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };

  it.each([
    ['minimal', 'low'],
    ['low', 'low'],
    ['medium', 'medium'],
    ['high', 'high'],
    ['xhigh', 'xhigh'],
  ])('maps reasoning_effort %s to output_config.effort %s', (effort, expected) => {
    const out = translate({ model: 'x', messages, reasoning_effort: effort });
    expect(out.output_config).toEqual({ effort: expected });
    expect(out).not.toHaveProperty('thinking');
  });

  it('turns thinking off for reasoning_effort none, and ignores values it does not know', () => {
    const none = translate({ model: 'x', messages, reasoning_effort: 'none' });
    expect(none.thinking).toEqual({ type: 'disabled' });
    expect(none).not.toHaveProperty('output_config');
    expect(translate({ model: 'x', messages, reasoning_effort: 'extreme' })).not.toHaveProperty('output_config');
  });

  it('sends a json_schema response_format as output_config.format, beside the effort', () => {
    const out = translate({
      model: 'x',
      messages,
      reasoning_effort: 'high',
      response_format: { type: 'json_schema', json_schema: { name: 'place', strict: true, schema } },
    });
    expect(out.output_config).toEqual({ effort: 'high', format: { type: 'json_schema', schema } });
  });

  it('drops json_object and text response formats, and refuses a json_schema without a schema', () => {
    expect(translate({ model: 'x', messages, response_format: { type: 'json_object' } })).not.toHaveProperty('output_config');
    expect(translate({ model: 'x', messages, response_format: { type: 'text' } })).not.toHaveProperty('output_config');
    const err = (() => {
      try {
        translate({ model: 'x', messages, response_format: { type: 'json_schema', json_schema: { name: 'place' } } });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AdapterRequestError);
    expect((err as AdapterRequestError).param).toBe('response_format.json_schema.schema');
  });

  it('hands back signed thinking blocks at the head of the assistant turn, and drops unsigned ones', () => {
    const out = translate({
      model: 'x',
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        {
          role: 'assistant',
          content: null,
          reasoning_content: 'Need the weather tool.',
          thinking_blocks: [
            { type: 'thinking', thinking: 'Need the weather tool.', signature: 'sig-1' },
            { type: 'redacted_thinking', data: 'enc-2' },
            { type: 'thinking', thinking: 'unsigned, from another model' },
          ],
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '-3°C' },
      ],
    });
    expect((out.messages as Anthropic.MessageParam[])[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'Need the weather tool.', signature: 'sig-1' },
        { type: 'redacted_thinking', data: 'enc-2' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
      ],
    });
    // A plain text answer with thinking becomes blocks too; without thinking it stays a string.
    const plain = translate({
      model: 'x',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.', thinking_blocks: [{ type: 'thinking', thinking: 'Greet back.', signature: 'sig-3' }] },
        { role: 'user', content: 'Bye' },
      ],
    });
    expect((plain.messages as Anthropic.MessageParam[])[1]!.content).toEqual([
      { type: 'thinking', thinking: 'Greet back.', signature: 'sig-3' },
      { type: 'text', text: 'Hello.' },
    ]);
  });
});

describe('anthropicHeaders', () => {
  it('sets x-api-key, anthropic-version (default 2023-06-01) and content-type', () => {
    expect(anthropicHeaders('sk-ant-1')).toEqual({
      'x-api-key': 'sk-ant-1',
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
    });
    expect(anthropicHeaders('k', '2026-10-21')['anthropic-version']).toBe('2026-10-21');
  });
});
