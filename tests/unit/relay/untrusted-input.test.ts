/**
 * Two inputs the gateway does not control, found by the fault suite (tests/faults): a prompt or a reply that
 * is one endless "word" (a run of one letter, CJK without punctuation) must cost linear time to count, and an
 * upstream's stream chunks may be any JSON at all. And one it does not control either: a long text resent on
 * every turn, counted once.
 */
import { describe, expect, it, vi } from 'vitest';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { countText } from '../../../src/relay/tokenize.js';
import { o200k } from '../../../src/relay/o200k.js';
import { contentChunkText, summarizeChunks, summarizeCompletion } from '../../../src/relay/reply-summary.js';

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

  it('counts a long text resent on every turn once, whatever string object carries it', () => {
    const document = 'A document pasted into the chat, resent with the history on every turn. '.repeat(1_000);
    const counted = countText(document);
    const bpe = vi.spyOn(o200k, 'countTokens');
    try {
      // Each request parses its body anew: an equal text, not the same string.
      expect(countText(JSON.parse(JSON.stringify(document)) as string)).toBe(counted);
      expect(bpe).not.toHaveBeenCalled();
      const edited = `${document}And one more line.`;
      expect(countText(edited)).toBe(countTokens(edited, { disallowedSpecial: new Set<string>() }));
      expect(bpe).toHaveBeenCalled();
    } finally {
      bpe.mockRestore();
    }
  });

  it('keeps a text in use while thousands of others pass through', () => {
    const prompt = 'The application instructions, sent with every request. '.repeat(60);
    const counted = countText(prompt);
    for (let i = 0; i < 5_000; i++) {
      countText(`${'x'.repeat(2_100)} ${i}`);
      if (i % 500 === 0) countText(prompt);
    }
    const bpe = vi.spyOn(o200k, 'countTokens');
    try {
      expect(countText(prompt)).toBe(counted);
      expect(bpe).not.toHaveBeenCalled();
    } finally {
      bpe.mockRestore();
    }
  });

  it('counts a text with half a surrogate pair as itself, whichever similar text came first', async () => {
    // UTF-8 writes a lone surrogate as U+FFFD: a digest of the UTF-8 bytes cannot tell these two apart.
    const [broken, replaced] = ['\uD800', '\uFFFD'].map((x) => `${'ab'.repeat(63)}a${x}${'ba'.repeat(1_500)}`) as [string, string];
    const fresh = async () => {
      vi.resetModules();
      return (await import('../../../src/relay/tokenize.js')).countText;
    };
    const one = await fresh();
    const brokenFirst = { broken: one(broken), replaced: one(replaced) };
    const other = await fresh();
    const replacedFirst = { replaced: other(replaced), broken: other(broken) };
    expect(brokenFirst).toEqual(replacedFirst);
    expect(brokenFirst.broken).not.toBe(brokenFirst.replaced);
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

  it('reassembles a long answer and long tool-call arguments piece by piece, in order', () => {
    const words = Array.from({ length: 1_000 }, (_, i) => ` w${i}`);
    const args = Array.from({ length: 300 }, (_, i) => `${i},`);
    const chunks = [
      ...words.map((w) => JSON.stringify({ choices: [{ index: 0, delta: { content: w }, finish_reason: null }] })),
      ...args.map((a, i) => JSON.stringify({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...(i === 0 ? { id: 'call_1', type: 'function' } : {}), function: { ...(i < 2 ? { name: 'f' } : {}), arguments: a } }] } }] })),
    ];
    const s = summarizeChunks(chunks);
    expect(s.content).toBe(words.join(''));
    expect(s.toolCalls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'ff', arguments: args.join('') } }]);
  });

  it('takes no usage that is not a token count (negative, fractional, past an integer column)', () => {
    for (const usage of [{ prompt_tokens: -5, completion_tokens: 1 }, { prompt_tokens: 3, completion_tokens: 1.5 }, { prompt_tokens: 3, completion_tokens: 3e9 }, { prompt_tokens: '3', completion_tokens: 1 }]) {
      expect(summarizeCompletion({ choices: [{ message: { content: 'x' } }], usage }).usage).toBeNull();
      expect(summarizeChunks([JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'stop' }], usage })]).usage).toBeNull();
    }
    expect(summarizeCompletion({ choices: [], usage: { prompt_tokens: 0, completion_tokens: 2_147_483_647 } }).usage).toEqual({ prompt_tokens: 0, completion_tokens: 2_147_483_647, total_tokens: 2_147_483_647 });
  });

  it('keeps only well-formed tool calls from a non-stream answer', () => {
    const s = summarizeCompletion({ choices: [{ message: { content: null, tool_calls: [1, null, { function: 5 }, { id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] } }] });
    expect(s.toolCalls.map((t) => t.function.name + t.function.arguments)).toEqual(['', 'f{}']);
  });
});

describe('contentChunkText (the stream summary read without JSON.parse)', () => {
  const real = [
    // OpenAI today (service_tier, obfuscation, the usage: null of include_usage), an older one, DeepSeek's.
    '{"id":"chatcmpl-B9M","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"xYz1"}',
    '{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-3.5-turbo-0125","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":"Hi \\\"there\\\" \\u00e9\\n"},"logprobs":null,"finish_reason":null}]}',
    '{"id":"2f6","object":"chat.completion.chunk","created":1718345013,"model":"deepseek-chat","system_fingerprint":"fp_a49d","choices":[{"index":0,"delta":{"content":"你好😀"},"finish_reason":null}]}',
  ];

  /** What the full parse makes of a chunk the fast path took: it must be exactly a content delta of choice 0. */
  function parsedContent(data: string): string | null {
    let chunk: { choices?: { index?: number; delta?: Record<string, unknown>; finish_reason?: unknown }[]; usage?: unknown };
    try {
      chunk = JSON.parse(data);
    } catch {
      return null;
    }
    const choice = chunk?.choices?.[0];
    if (chunk.choices?.length !== 1 || choice?.index !== 0 || choice.finish_reason !== null) return null;
    if (Object.keys(choice.delta ?? {}).join() !== 'content' || typeof choice.delta!.content !== 'string') return null;
    if (chunk.usage !== undefined && chunk.usage !== null && typeof chunk.usage === 'object') return null;
    return choice.delta!.content;
  }

  it('reads the content chunks real providers send, escapes and all', () => {
    expect(real.map(contentChunkText)).toEqual([' world', 'Hi "there" é\n', '你好😀']);
    expect(real.map(contentChunkText)).toEqual(real.map(parsedContent));
  });

  it('leaves every other chunk to the full parse', () => {
    const others = [
      '{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}',
      '{"id":"x","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}',
      '{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}',
      '{"id":"x","choices":[{"index":1,"delta":{"content":"b"},"finish_reason":null}]}',
      '{"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"choices":null}',
      '{"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":1}}',
      '{"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"meta":{"choices":[]}}',
      '{"id": "x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}',
      '{"n":01,"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{"content":"bad \\x escape"},"finish_reason":null}]}',
    ];
    for (const data of others) expect(contentChunkText(data), data).toBeNull();
  });

  it('agrees with the full parse on thousands of damaged chunks', () => {
    // Deterministic: each real chunk with one character replaced, deleted or doubled, at every position.
    const alphabet = ['"', '\\', '{', '}', '[', ']', ',', ':', '0', 'a', ' ', '\u0001'];
    let checked = 0;
    for (const base of real) {
      for (let i = 0; i < base.length; i++) {
        const variants = [base.slice(0, i) + base.slice(i + 1), base.slice(0, i) + base[i] + base.slice(i), ...alphabet.map((c) => base.slice(0, i) + c + base.slice(i + 1))];
        for (const data of variants) {
          const fast = contentChunkText(data);
          if (fast !== null) expect(fast, data).toBe(parsedContent(data));
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(5_000);
  });

  it('sums a stream to what the full parse of each chunk says', () => {
    const s = summarizeChunks([...real, '{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}']);
    expect(s.content).toBe(' worldHi "there" é\n你好😀');
    expect(s.finishReason).toBe('stop');
  });
});
