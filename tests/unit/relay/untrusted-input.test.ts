/**
 * Two inputs the gateway does not control, found by the fault suite (tests/faults): a prompt or a reply that
 * is one endless "word" (a run of one letter, CJK without punctuation) must cost linear time to count, and an
 * upstream's stream chunks may be any JSON at all.
 */
import { describe, expect, it } from 'vitest';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { countText } from '../../../src/relay/tokenize.js';
import { summarizeChunks, summarizeCompletion } from '../../../src/relay/reply-summary.js';

describe('countText', () => {
  it('counts a megabyte with no word break in linear time (BPE alone is quadratic in a word)', () => {
    const started = Date.now();
    expect(countText('b'.repeat(1_000_000))).toBe(250_000);
    expect(countText('漢'.repeat(200_000))).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('counts ordinary text exactly as a single pass would', () => {
    const plain = { disallowedSpecial: new Set<string>() };
    const prose = 'The quick brown fox, jumping over the lazy dog; it was the best of times. '.repeat(200);
    const words = Array.from({ length: 5_000 }, (_, i) => `word${i}`).join(' ');
    // Pieces are cut before a space, where a word (which takes its leading space) begins: nothing changes.
    expect(countText(prose)).toBe(countTokens(prose, plain));
    expect(countText(words)).toBe(countTokens(words, plain));
  });
});

describe('summarizeChunks', () => {
  it('skips chunks of the wrong shape instead of throwing after the stream began', () => {
    const chunks = [
      'null',
      '5',
      '"text"',
      '{"choices": 5}',
      '{"choices": [null, 3]}',
      '{"choices": [{"delta": 7}]}',
      '{"choices": [{"delta": {"tool_calls": [null, {"index": "__proto__", "function": {"name": "x"}}]}}]}',
      '{"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}',
    ];
    const s = summarizeChunks(chunks);
    expect(s.content).toBe('ok');
    expect(s.usage).toEqual({ prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
    expect(({} as Record<string, unknown>).id).toBeUndefined();
    expect(Object.keys(Array.prototype)).toEqual([]);
  });

  it('keeps only well-formed tool calls from a non-stream answer', () => {
    const s = summarizeCompletion({ choices: [{ message: { content: null, tool_calls: [1, null, { function: 5 }, { id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] } }] });
    expect(s.toolCalls.map((t) => t.function.name + t.function.arguments)).toEqual(['', 'f{}']);
  });
});
