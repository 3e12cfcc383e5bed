/**
 * Streams that end early. A client that goes away aborts the upstream request at once and is billed for
 * what was generated; an upstream that drops (or stalls) mid-stream ends the client's stream with one final
 * `data: {"error": ...}` frame and is billed for what was delivered. Reservations never leak.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { basicConfig, eventually, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { MOCK_SECRET, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { expectErrorShape, messageRows, raw, sdk, sleep, sseData, tenantIdOf, tokenRow } from '../../helpers/relay.js';
import { countChatPrompt, countText } from '../../../src/relay/tokenize.js';

const LONG = Array.from({ length: 200 }, (_, i) => `word${i} `).join('');
const MESSAGES = [{ role: 'user' as const, content: 'Tell me a long story.' }];
const PROMPT = countChatPrompt(MESSAGES);

let upstream: MockUpstream;
let gw: TestGateway;
let tenantId: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  // A finite token quota: every request holds a reservation that must be settled or released.
  gw = await startGateway({ env: { LYSS_IDLE_TIMEOUT_MS: '500', LYSS_FIRST_BYTE_TIMEOUT_MS: '10000', LYSS_RELAY_RETRIES: '0' }, config: basicConfig(upstream.url, { token: { quota: 1e9 } }) });
  tenantId = await tenantIdOf(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

async function recorded() {
  await gw.deps.relay.usage.flush();
  return (await tokenRow(gw, tenantId, 'ci')).usedQuota;
}

/** The live counter equals the durable spend: nothing is still reserved. */
async function expectNoReservation() {
  const token = await tokenRow(gw, tenantId, 'ci');
  await eventually(async () => {
    await gw.deps.relay.usage.flush();
    expect(await gw.deps.store.quotaUsed(`{${tenantId}}:q:t:${token.id}`)).toBe((await tokenRow(gw, tenantId, 'ci')).usedQuota);
  });
}

describe('client disconnects', () => {
  it('mid-stream on /v1/messages: the upstream request is aborted within a second, and no reservation is left', async () => {
    upstream.script(() => ({ kind: 'reply', content: LONG, chunks: 200, chunkDelayMs: 25 }));
    const abort = new AbortController();
    const res = await raw(gw, '/v1/messages', {
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 1000, stream: true, messages: MESSAGES }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('content_block_delta')) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    const abortedAt = Date.now();
    const req = upstream.requests[0]!;
    await eventually(async () => expect(req.closedAt).not.toBeNull(), 3000);
    expect(req.closedAt! - abortedAt).toBeLessThan(1000);
    expect(req.finishedAt).toBeNull();
    await expectNoReservation();
  });

  it('mid-stream: the upstream request is aborted within a second, and what was generated is billed', async () => {
    upstream.script(() => ({ kind: 'reply', content: LONG, chunks: 200, chunkDelayMs: 25 }));
    const before = await recorded();
    const { data, response } = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true }).withResponse();
    let seen = '';
    let n = 0;
    for await (const c of data) {
      seen += c.choices[0]?.delta.content ?? '';
      if (++n === 6) break; // breaking out of the loop aborts the HTTP request
    }
    const abortedAt = Date.now();
    expect(seen.length).toBeGreaterThan(0);
    const req = upstream.requests[0]!;
    await eventually(async () => expect(req.closedAt).not.toBeNull(), 3000);
    expect(req.closedAt! - abortedAt).toBeLessThan(1000);
    expect(req.finishedAt).toBeNull();
    expect(req.framesSent).toBeLessThan(100);

    const conversationId = response.headers.get('x-lyss-conversation-id')!;
    const assistant = await eventually(async () => {
      await gw.deps.relay.usage.flush();
      const rows = await messageRows(gw, tenantId, conversationId);
      const a = rows.find((r) => r.role === 'assistant');
      expect(a).toBeDefined();
      return a!;
    });
    expect(assistant.tokenCount).toBeGreaterThan(0);
    expect(assistant.content.startsWith(seen)).toBe(true);
    expect(LONG.startsWith(assistant.content)).toBe(true);
    expect(assistant.tokenCount).toBe(countText(assistant.content));
    expect((await recorded()) - before).toBe(PROMPT + assistant.tokenCount);
    await expectNoReservation();
  });

  it('before the first byte: the upstream request is aborted, nothing is billed, the reservation is released', async () => {
    upstream.script(() => ({ kind: 'reply', headersDelayMs: 3000 }));
    const before = await recorded();
    const controller = new AbortController();
    const call = sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true }, { signal: controller.signal });
    await eventually(async () => expect(upstream.requests).toHaveLength(1));
    controller.abort();
    const abortedAt = Date.now();
    await expect(call).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await eventually(async () => expect(upstream.requests[0]!.closedAt).not.toBeNull(), 3000);
    expect(upstream.requests[0]!.closedAt! - abortedAt).toBeLessThan(1000);
    await sleep(100);
    expect((await recorded()) - before).toBe(0);
    await expectNoReservation();
  });

  it('a non-stream request: the upstream request is aborted within a second', async () => {
    upstream.script(() => ({ kind: 'reply', headersDelayMs: 3000 }));
    const controller = new AbortController();
    const call = sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }, { signal: controller.signal });
    await eventually(async () => expect(upstream.requests).toHaveLength(1));
    controller.abort();
    const abortedAt = Date.now();
    await expect(call).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await eventually(async () => expect(upstream.requests[0]!.closedAt).not.toBeNull(), 3000);
    expect(upstream.requests[0]!.closedAt! - abortedAt).toBeLessThan(1000);
    await expectNoReservation();
  });
});

describe('upstream ends early', () => {
  const CONTENT = 'alpha beta gamma delta epsilon zeta eta theta';

  async function cutStream(hang: boolean) {
    // Frames: role, then 8 content pieces; the upstream stops after the role and 3 pieces.
    upstream.script(() => ({ kind: 'cut', afterChunks: 4, content: CONTENT, chunks: 8, hang }));
    const before = await recorded();
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = sseData(await res.text());
    expect(frames).not.toContain('[DONE]');
    const last = JSON.parse(frames.at(-1)!) as { error: unknown };
    expect(Object.keys(last)).toEqual(['error']);
    expectErrorShape(last.error, { type: 'server_error', code: 'upstream_error' });
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f) as { error?: unknown; choices: { delta: { content?: string } }[] });
    expect(chunks.filter((c) => c.error)).toEqual([]);
    expect(chunks).toHaveLength(4);
    const delivered = chunks.map((c) => c.choices[0]!.delta.content ?? '').join('');
    expect(delivered.length).toBeGreaterThan(0);
    expect(CONTENT.startsWith(delivered)).toBe(true);
    expect(delivered).not.toBe(CONTENT);

    const conversationId = res.headers.get('x-lyss-conversation-id')!;
    const assistant = await eventually(async () => {
      await gw.deps.relay.usage.flush();
      const a = (await messageRows(gw, tenantId, conversationId)).find((r) => r.role === 'assistant');
      expect(a).toBeDefined();
      return a!;
    });
    expect(assistant.content).toBe(delivered);
    expect(assistant.tokenCount).toBe(countText(delivered));
    expect((await recorded()) - before).toBe(PROMPT + countText(delivered));
    await expectNoReservation();
  }

  it('a dropped connection: one final error frame, billed for what was delivered', async () => {
    await cutStream(false);
  });

  it('a stall past the idle timeout: the same', async () => {
    await cutStream(true);
    // The gateway hung up on the silent upstream.
    await eventually(async () => expect(upstream.requests[0]!.closedAt).not.toBeNull());
  });

  it('an error event from upstream mid-stream: the gateway\'s own final error frame, never the upstream\'s', async () => {
    const chunk = (content: string) => JSON.stringify({ id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] });
    const data = [chunk('partial '), chunk('answer'), JSON.stringify({ error: { message: `overloaded (${MOCK_SECRET})`, type: 'server_error', code: 'overloaded' } })];
    upstream.script(() => ({ kind: 'events', data }));
    const before = await recorded();
    const res = await raw(gw, '/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true }) });
    const text = await res.text();
    expect(text).not.toContain(MOCK_SECRET);
    expect(text).not.toContain('overloaded');
    const frames = sseData(text);
    expect(frames).toHaveLength(3);
    expect(frames.slice(0, 2)).toEqual([chunk('partial '), chunk('answer')]);
    expectErrorShape((JSON.parse(frames[2]!) as { error: unknown }).error, { type: 'server_error', code: 'upstream_error' });
    await eventually(async () => expect((await recorded()) - before).toBe(PROMPT + countText('partial answer')));
  });

  it('the SDK surfaces the final error frame as an error, after the text it got', async () => {
    upstream.script(() => ({ kind: 'cut', afterChunks: 4, content: CONTENT, chunks: 8 }));
    const stream = await sdk(gw).chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true });
    let text = '';
    const consume = async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    };
    const err = await consume().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(text.length).toBeGreaterThan(0);
  });
});
