import { describe, it, expect } from 'vitest';
import type OpenAI from 'openai';
import { createAnthropicStreamTranslator } from '../../../src/relay/adapters/anthropic/stream.js';
import type { OpenAIChunk } from '../../../src/relay/adapters/anthropic/wire.js';
import { anthropicSseFrames, THINKING_SIGNATURE, type AnthropicFixture } from '../../helpers/anthropic-wire.js';

const ctx = { id: 'chatcmpl-1', model: 'claude-sonnet', created: 1_700_000_000 };

function run(fixture: AnthropicFixture, includeUsage = false) {
  const t = createAnthropicStreamTranslator({ ...ctx, includeUsage });
  const chunks: OpenAIChunk[] = [];
  for (const frame of anthropicSseFrames(fixture)) chunks.push(...t.push(frame.event, JSON.stringify(frame.data)));
  chunks.push(...t.finish());
  return { t, chunks };
}

function text(chunks: OpenAIChunk[]): string {
  return chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
}

function finishReasons(chunks: OpenAIChunk[]): unknown[] {
  return chunks.map((c) => c.choices[0]?.finish_reason).filter((r) => r !== null && r !== undefined);
}

describe('createAnthropicStreamTranslator: text', () => {
  const fixture: AnthropicFixture = { text: 'Hello! How can I help you today?', stopReason: 'end_turn', usage: { input_tokens: 25, output_tokens: 15 } };

  it('reassembles the text with one id, the role only in the first delta and exactly one finish_reason', () => {
    const { chunks, t } = run(fixture);
    expect(text(chunks)).toBe('Hello! How can I help you today?');
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set(['chatcmpl-1']));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'claude-sonnet' && c.created === 1_700_000_000)).toBe(true);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.slice(1).some((c) => c.choices[0]?.delta.role !== undefined)).toBe(false);
    expect(finishReasons(chunks)).toEqual(['stop']);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(t.error()).toBeNull();
  });

  it('adds no usage field and no usage chunk unless include_usage was asked', () => {
    const { chunks, t } = run(fixture);
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    // The relay still learns the usage for billing.
    expect(t.usage()).toEqual({ prompt_tokens: 25, completion_tokens: 15, total_tokens: 40, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 } });
  });

  it('with include_usage: usage null on every chunk, then a final choices: [] chunk with the totals', () => {
    const { chunks } = run({ ...fixture, usage: { input_tokens: 25, output_tokens: 15, cache_read_input_tokens: 100 } }, true);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 125, completion_tokens: 15, total_tokens: 140, prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 0 } });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(finishReasons(chunks)).toEqual(['stop']);
  });

  it('takes message_delta usage as cumulative (overwrites, never adds)', () => {
    const cumulative = run({ ...fixture, deltaUsage: 'cumulative', usage: { input_tokens: 25, output_tokens: 15, cache_creation_input_tokens: 7 } });
    expect(cumulative.t.usage()).toMatchObject({ prompt_tokens: 32, completion_tokens: 15, total_tokens: 47 });
    const outputOnly = run({ ...fixture, usage: { input_tokens: 25, output_tokens: 15, cache_creation_input_tokens: 7 } });
    expect(outputOnly.t.usage()).toEqual(cumulative.t.usage());
  });

  it('ignores ping events and reads the event type from data when the event name is missing', () => {
    const t = createAnthropicStreamTranslator({ ...ctx, includeUsage: false });
    expect(t.push('ping', '{"type": "ping"}')).toEqual([]);
    const first = t.push(undefined, JSON.stringify({ type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 1, output_tokens: 1 } } }));
    expect(first).toHaveLength(1);
    expect(first[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(t.push('ping', '{"type": "ping"}')).toEqual([]);
  });
});

describe('createAnthropicStreamTranslator: tool use', () => {
  const fixture: AnthropicFixture = {
    thinking: 'Two cities, two calls.',
    text: 'Checking both.',
    toolUses: [
      { id: 'toolu_paris', name: 'get_weather', input: { location: 'Paris, France', unit: 'celsius' } },
      { id: 'toolu_rome', name: 'get_weather', input: { location: 'Rome, Italy' } },
    ],
    stopReason: 'tool_use',
    usage: { input_tokens: 400, output_tokens: 90 },
  };

  it('numbers tool calls 0 and 1 (not Anthropic block indices 2 and 3), thinking apart from the content', () => {
    const { chunks } = run(fixture);
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect([...new Set(calls.map((c) => c.index))]).toEqual([0, 1]);
    expect(text(chunks)).toBe('Checking both.');
    expect(chunks.map((c) => c.choices[0]?.delta.reasoning_content ?? '').join('')).toBe('Two cities, two calls.');
  });

  it('opens each call with id, type, name and arguments "", then streams only argument fragments', () => {
    const { chunks } = run(fixture);
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    for (const index of [0, 1]) {
      const [head, ...rest] = calls.filter((c) => c.index === index);
      expect(head).toEqual({ index, id: index === 0 ? 'toolu_paris' : 'toolu_rome', type: 'function', function: { name: 'get_weather', arguments: '' } });
      expect(rest.length).toBeGreaterThan(1);
      for (const fragment of rest) expect(Object.keys(fragment).sort()).toEqual(['function', 'index']);
      const args = rest.map((c) => c.function?.arguments ?? '').join('');
      expect(JSON.parse(args)).toEqual(fixture.toolUses?.[index]?.input);
    }
    expect(finishReasons(chunks)).toEqual(['tool_calls']);
  });

  it('ends a call without arguments with "{}", as unstreamed, not ""', () => {
    const t = createAnthropicStreamTranslator({ ...ctx, includeUsage: false });
    t.push('content_block_start', JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_x', name: 'now', input: {} } }));
    expect(t.push('content_block_delta', JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '' } }))).toEqual([]);
    const out = t.push('content_block_stop', JSON.stringify({ type: 'content_block_stop', index: 0 }));
    expect(out[0]?.choices[0]?.delta.tool_calls).toEqual([{ index: 0, function: { arguments: '{}' } }]);
  });

  it('emits the whole input at content_block_stop when no input_json_delta came', () => {
    const t = createAnthropicStreamTranslator({ ...ctx, includeUsage: false });
    t.push('message_start', JSON.stringify({ type: 'message_start', message: { usage: { input_tokens: 1, output_tokens: 1 } } }));
    t.push('content_block_start', JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_x', name: 'f', input: { a: 1 } } }));
    const out = t.push('content_block_stop', JSON.stringify({ type: 'content_block_stop', index: 0 }));
    expect(out[0]?.choices[0]?.delta.tool_calls).toEqual([{ index: 0, function: { arguments: '{"a":1}' } }]);
  });
});

describe('createAnthropicStreamTranslator: thinking', () => {
  const fixture: AnthropicFixture = {
    thinking: 'Plan: greet, then ask.',
    redactedThinking: 'EmwKAhgBEgy3va3pzix',
    text: 'Hello! What do you need?',
    stopReason: 'end_turn',
    usage: { input_tokens: 30, output_tokens: 40 },
    thinkingTokens: 25,
  };

  it('streams thinking as reasoning_content, then its signature and the redacted block as thinking_blocks', () => {
    const { chunks } = run(fixture, true);
    const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta));
    const reasoning = deltas.filter((d) => d.reasoning_content !== undefined);
    expect(reasoning.map((d) => d.reasoning_content).join('')).toBe('Plan: greet, then ask.');
    for (const d of reasoning) expect(d).not.toHaveProperty('content');
    expect(deltas.flatMap((d) => d.thinking_blocks ?? [])).toEqual([
      { type: 'thinking', signature: THINKING_SIGNATURE },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
    ]);
    // The signature closes the thinking: it comes after the last reasoning and before any content.
    const signatureAt = deltas.findIndex((d) => d.thinking_blocks?.[0]?.type === 'thinking');
    expect(signatureAt).toBeGreaterThan(deltas.findLastIndex((d) => d.reasoning_content !== undefined));
    expect(signatureAt).toBeLessThan(deltas.findIndex((d) => d.content));
    expect(text(chunks)).toBe('Hello! What do you need?');
    expect(chunks.at(-1)?.usage).toMatchObject({ completion_tokens: 40, completion_tokens_details: { reasoning_tokens: 25 } });
  });

  it('reports no reasoning tokens when the upstream gave none', () => {
    const { t } = run({ ...fixture, thinkingTokens: undefined }, true);
    expect(t.usage()).not.toHaveProperty('completion_tokens_details');
  });
});

describe('createAnthropicStreamTranslator: endings and errors', () => {
  const start = JSON.stringify({ type: 'message_start', message: { usage: { input_tokens: 12, output_tokens: 1 } } });

  it('turns an error event into a safe, mapped error and stops translating', () => {
    const t = createAnthropicStreamTranslator({ ...ctx, includeUsage: true });
    t.push('message_start', start);
    const out = t.push('error', JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded (org 1234)' } }));
    expect(out).toEqual([]);
    expect(t.error()).toEqual({ status: 503, type: 'server_error', code: 'upstream_overloaded', message: expect.not.stringContaining('1234') });
    expect(t.push('content_block_start', JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }))).toEqual([]);
    expect(t.finish()).toEqual([]);
    expect(t.usage()?.prompt_tokens).toBe(12);
  });

  it('reports a cut stream (no message_delta) as an error and keeps the usage known so far', () => {
    const t = createAnthropicStreamTranslator({ ...ctx, includeUsage: false });
    t.push('message_start', start);
    t.push('content_block_start', JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    expect(t.finish()).toEqual([]);
    expect(t.error()).toMatchObject({ status: 502, code: 'upstream_stream_incomplete' });
    expect(t.usage()).toMatchObject({ prompt_tokens: 12, completion_tokens: 1 });
  });

  it('closes the response when message_delta came but message_stop did not', () => {
    const t = createAnthropicStreamTranslator({ ...ctx, includeUsage: false });
    t.push('message_start', start);
    t.push('message_delta', JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 3 } }));
    const out = t.finish();
    expect(finishReasons(out)).toEqual(['length']);
    expect(t.error()).toBeNull();
  });

  it('treats malformed event data as an upstream error', () => {
    const t = createAnthropicStreamTranslator({ ...ctx, includeUsage: false });
    expect(t.push('content_block_delta', '{not json')).toEqual([]);
    expect(t.error()).toMatchObject({ status: 502, code: 'upstream_bad_stream' });
  });

  it('emits chunks the OpenAI SDK types accept', () => {
    const { chunks } = run({ text: 'hi', stopReason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } }, true);
    const typed: OpenAI.Chat.ChatCompletionChunk[] = chunks;
    expect(typed.length).toBeGreaterThan(2);
  });
});
