/**
 * Streamed chat completions: bytes pass through unbuffered, the gateway always asks upstream for usage and
 * shows the usage chunk only to a client that asked, and the SSE headers are what proxies and SDKs need.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type OpenAI from 'openai';
import { basicConfig, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { raw, sdk, sseData } from '../../helpers/relay.js';

let upstream: MockUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    config: basicConfig(upstream.url, { channel: { models: ['gpt-4o-mini'], model_mapping: { 'gpt-4o-mini': 'gpt-4o-mini-2024-07-18' } } }),
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

async function collect(stream: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

const text = (chunks: Chunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

describe('POST /v1/chat/completions, stream', () => {
  it('without include_usage: the client sees no usage, the upstream was still asked for it', async () => {
    const { data, response } = await sdk(gw)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse();
    const chunks = await collect(data);
    expect(text(chunks)).toBe(DEFAULT_REPLY);
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    expect(chunks.filter((c) => c.usage)).toEqual([]);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]!.body.stream_options).toEqual({ include_usage: true });
  });

  it('with include_usage false: same, and the upstream was asked for usage anyway', async () => {
    const chunks = await collect(
      await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: false } }),
    );
    expect(text(chunks)).toBe(DEFAULT_REPLY);
    expect(chunks.filter((c) => c.usage || c.choices.length === 0)).toEqual([]);
    expect(upstream.requests[0]!.body.stream_options).toEqual({ include_usage: true });
  });

  it('with include_usage: exactly one usage chunk, last, with choices []', async () => {
    upstream.script(() => ({ kind: 'reply', usage: { prompt: 31, completion: 9 } }));
    const chunks = await collect(
      await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } }),
    );
    const usageChunks = chunks.filter((c) => c.usage);
    expect(usageChunks).toHaveLength(1);
    expect(usageChunks[0]).toBe(chunks.at(-1));
    expect(usageChunks[0]!.choices).toEqual([]);
    expect(usageChunks[0]!.usage).toMatchObject({ prompt_tokens: 31, completion_tokens: 9, total_tokens: 40 });
    expect(text(chunks)).toBe(DEFAULT_REPLY);
    expect(upstream.requests[0]!.body.stream_options).toEqual({ include_usage: true });
  });

  it('relays the upstream frames unchanged and ends with [DONE]', async () => {
    const res = await raw(gw, '/v1/chat/completions', {
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } }),
    });
    const frames = sseData(await res.text());
    expect(frames.at(-1)).toBe('[DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f) as Chunk);
    // The model is what upstream answered with: the mapped name, as a direct call would show.
    expect(new Set(chunks.map((c) => c.model))).toEqual(new Set(['gpt-4o-mini-2024-07-18']));
    expect(chunks.map((c) => c.id)).toEqual(chunks.map(() => 'chatcmpl-mock'));
    expect(frames.filter((f) => f === '[DONE]')).toHaveLength(1);
  });

  it('without include_usage, no chunk carries a usage key (the forced upstream usage leaves no trace)', async () => {
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }) });
    const frames = sseData(await res.text());
    expect(frames.at(-1)).toBe('[DONE]');
    expect(frames.length).toBeGreaterThan(3);
    for (const f of frames.slice(0, -1)) expect(Object.keys(JSON.parse(f) as object)).not.toContain('usage');
  });

  it('with include_usage, chunks carry usage: null and the last one the usage, as OpenAI sends them', async () => {
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } }) });
    const chunks = sseData(await res.text()).slice(0, -1).map((f) => JSON.parse(f) as { usage: unknown; choices: unknown[] });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7 });
  });

  it('sends SSE headers', async () => {
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(res.headers.get('content-length')).toBeNull();
    await res.text();
  });

  it('forwards the first chunk before the upstream has finished (nothing is buffered)', async () => {
    upstream.script(() => ({ kind: 'reply', chunkDelayMs: 150, chunks: 5 }));
    const stream = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const arrivals: number[] = [];
    for await (const _ of stream) arrivals.push(Date.now());
    const finishedAt = upstream.requests[0]!.finishedAt!;
    expect(finishedAt).toBeTypeOf('number');
    // 7 frames, 150 ms apart: the upstream needs about a second; the first chunk must not wait for it.
    expect(arrivals[0]!).toBeLessThan(finishedAt - 600);
    // And chunks trickle in as they are produced, not in one burst at the end.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(600);
  });

  it('maps the model upstream and leaves the rest of a stream request as sent', async () => {
    const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, temperature: 0, seed: 7, user: 'u-1', logprobs: false, x_vendor_flag: 'keep-me' };
    await collect(await sdk(gw).chat.completions.create(request as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming));
    expect(upstream.requests[0]!.body).toEqual({ ...request, model: 'gpt-4o-mini-2024-07-18', stream_options: { include_usage: true } });
  });

  it('keeps other stream_options fields the client set', async () => {
    const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: false, include_obfuscation: false } };
    await collect(await sdk(gw).chat.completions.create(request as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming));
    expect(upstream.requests[0]!.body.stream_options).toEqual({ include_usage: true, include_obfuscation: false });
  });
});
