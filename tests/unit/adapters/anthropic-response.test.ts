import { describe, it, expect } from 'vitest';
import type OpenAI from 'openai';
import { fromAnthropicResponse, usageFromAnthropic } from '../../../src/relay/adapters/anthropic/response.js';
import { anthropicMessage, THINKING_SIGNATURE, type AnthropicStopReasonFixture } from '../../helpers/anthropic-wire.js';

const ctx = { id: 'chatcmpl-abc', model: 'claude-sonnet', created: 1_700_000_000 };
const usage = { input_tokens: 10, output_tokens: 5 };

describe('fromAnthropicResponse', () => {
  it('translates a text answer into an OpenAI chat.completion the SDK type accepts', () => {
    const out: OpenAI.Chat.ChatCompletion = fromAnthropicResponse(anthropicMessage({ text: 'Hi! My name is Claude.', stopReason: 'end_turn', usage }), ctx);
    expect(out).toEqual({
      id: 'chatcmpl-abc',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-sonnet',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hi! My name is Claude.', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 } },
    });
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ] as const)('maps stop_reason %s to finish_reason %s', (stopReason: AnthropicStopReasonFixture, finish) => {
    const out = fromAnthropicResponse(anthropicMessage({ text: 'x', stopReason, usage }), ctx);
    expect(out.choices[0]?.finish_reason).toBe(finish);
  });

  it('turns tool_use blocks into tool_calls with ids kept and arguments as JSON strings', () => {
    const msg = anthropicMessage({
      text: 'Let me check.',
      toolUses: [
        { id: 'toolu_01A', name: 'get_weather', input: { location: 'San Francisco, CA', unit: 'celsius' } },
        { id: 'toolu_01B', name: 'get_time', input: {} },
      ],
      stopReason: 'tool_use',
      usage,
    });
    const out = fromAnthropicResponse(msg, ctx);
    const message = out.choices[0]?.message;
    expect(message?.content).toBe('Let me check.');
    expect(message?.tool_calls).toEqual([
      { id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' } },
      { id: 'toolu_01B', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
    expect(out.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('gives null content for a tool-call-only answer, its thinking as reasoning_content and thinking_blocks', () => {
    const msg = anthropicMessage({
      thinking: 'The user wants weather.',
      redactedThinking: 'EmwKAhgBEgy3va3pzix',
      toolUses: [{ name: 'get_weather', input: { city: 'Oslo' } }],
      stopReason: 'tool_use',
      usage,
      thinkingTokens: 7,
    });
    const out = fromAnthropicResponse(msg, ctx);
    const message = out.choices[0]?.message;
    expect(message?.content).toBeNull();
    expect(message?.reasoning_content).toBe('The user wants weather.');
    expect(message?.thinking_blocks).toEqual([
      { type: 'thinking', thinking: 'The user wants weather.', signature: THINKING_SIGNATURE },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
    ]);
    expect(message?.tool_calls).toHaveLength(1);
    expect(out.usage.completion_tokens_details).toEqual({ reasoning_tokens: 7 });
  });

  it('adds no reasoning fields to an answer without thinking', () => {
    const out = fromAnthropicResponse(anthropicMessage({ text: 'Hi', stopReason: 'end_turn', usage }), ctx);
    expect(out.choices[0]?.message).not.toHaveProperty('reasoning_content');
    expect(out.choices[0]?.message).not.toHaveProperty('thinking_blocks');
    expect(out.usage).not.toHaveProperty('completion_tokens_details');
  });

  it('joins several text blocks', () => {
    const msg = { ...anthropicMessage({ stopReason: 'end_turn', usage }), content: [{ type: 'text', text: 'Hello, ' }, { type: 'text', text: 'world' }] };
    expect(fromAnthropicResponse(msg, ctx).choices[0]?.message.content).toBe('Hello, world');
  });

  it('counts cache reads and writes into prompt_tokens and reports them separately', () => {
    const msg = anthropicMessage({
      text: 'ok',
      stopReason: 'end_turn',
      usage: { input_tokens: 50, output_tokens: 503, cache_creation_input_tokens: 2051, cache_read_input_tokens: 1000 },
    });
    expect(fromAnthropicResponse(msg, ctx).usage).toEqual({
      prompt_tokens: 3101,
      completion_tokens: 503,
      total_tokens: 3604,
      prompt_tokens_details: { cached_tokens: 1000, cache_write_tokens: 2051 },
    });
  });

  it('treats null cache counters as zero', () => {
    expect(usageFromAnthropic({ input_tokens: 3, output_tokens: 4, cache_read_input_tokens: null, cache_creation_input_tokens: null })).toEqual({
      prompt_tokens: 3,
      completion_tokens: 4,
      total_tokens: 7,
      prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    });
  });
});
