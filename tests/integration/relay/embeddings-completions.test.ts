/**
 * POST /v1/embeddings (float and base64) and the legacy POST /v1/completions (stream and not), through the
 * SDK, with what reached the upstream and what was billed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { basicConfig, eventually, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { DEFAULT_REPLY, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { inTenant, raw, sdk, sseData, tenantIdOf, tokenRow, channelRow } from '../../helpers/relay.js';
import { chatConversations } from '../../../src/db/schema/index.js';

const VECTOR = [0.0023064255, -0.009327292, 0.015797347];

let upstream: MockUpstream;
let gw: TestGateway;
let tenantId: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    config: basicConfig(upstream.url, {
      channel: { model_mapping: { 'text-embedding-3-small': 'text-embedding-3-small-v2', 'gpt-3.5-turbo-instruct': 'gpt-3.5-turbo-instruct-0914' } },
      // A finite quota: every request holds a reservation that must be settled or released.
      token: { quota: 1e9 },
    }),
  });
  tenantId = await tenantIdOf(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

/** Waits until the token's and the channel's recorded spend moved by `delta`. */
async function expectBilled(before: { token: number; channel: number }, delta: number) {
  await eventually(async () => {
    expect((await tokenRow(gw, tenantId, 'ci')).usedQuota - before.token).toBe(delta);
    expect((await channelRow(gw, tenantId, 'openai-main')).usedQuota - before.channel).toBe(delta);
  });
}
async function expectNoReservation() {
  const id = (await tokenRow(gw, tenantId, 'ci')).id;
  await eventually(async () => {
    await gw.deps.relay.usage.flush();
    expect(await gw.deps.store.quotaUsed(`{${tenantId}}:q:t:${id}`)).toBe((await tokenRow(gw, tenantId, 'ci')).usedQuota);
  });
}
async function spend() {
  await gw.deps.relay.usage.flush();
  return { token: (await tokenRow(gw, tenantId, 'ci')).usedQuota, channel: (await channelRow(gw, tenantId, 'openai-main')).usedQuota };
}

describe('POST /v1/embeddings', () => {
  it('encoding_format float: floats pass through exactly', async () => {
    const before = await spend();
    const { data: r, response } = await sdk(gw).embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', encoding_format: 'float' }).withResponse();
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(r.object).toBe('list');
    expect(r.data).toEqual([{ object: 'embedding', index: 0, embedding: VECTOR }]);
    expect(r.usage).toEqual({ prompt_tokens: 8, total_tokens: 8 });
    expect(upstream.requests[0]!.path).toBe('/v1/embeddings');
    expect(upstream.requests[0]!.body).toEqual({ model: 'text-embedding-3-small-v2', input: 'hello world', encoding_format: 'float' });
    await expectBilled(before, 8);
  });

  it('the SDK default (base64 on the wire, decoded by the SDK)', async () => {
    const r = await sdk(gw).embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
    expect(upstream.requests[0]!.body.encoding_format).toBe('base64');
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    for (const d of r.data) {
      expect(d.embedding).toHaveLength(3);
      d.embedding.forEach((v, i) => expect(v).toBeCloseTo(VECTOR[i]!, 6));
    }
  });

  it('explicit base64: the client gets the base64 string the upstream sent', async () => {
    const res = await raw(gw, '/v1/embeddings', { body: JSON.stringify({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'base64' }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { embedding: string }[] };
    expect(body.data[0]!.embedding).toBe(Buffer.from(new Float32Array(VECTOR).buffer).toString('base64'));
  });

  it('an answer cut mid-body: the client sees a failure (never a truncated JSON), nothing is billed, nothing stays reserved', async () => {
    const body = JSON.stringify({ object: 'list', data: Array.from({ length: 50 }, (_, index) => ({ object: 'embedding', index, embedding: VECTOR })), model: 'm', usage: { prompt_tokens: 400, total_tokens: 400 } });
    upstream.script(() => ({ kind: 'raw', contentType: 'application/json', body, cutAfterBytes: 1000 }));
    const before = await spend();
    const err = await sdk(gw).embeddings.create({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'float' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 100));
    expect(await spend()).toEqual(before);
    await expectNoReservation();
  });

  it('an upstream that drops before answering: 502 in OpenAI shape, nothing reserved', async () => {
    upstream.script(() => ({ kind: 'reset' }));
    const err = await sdk(gw).embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_error');
    await expectNoReservation();
  });

  it('creates no conversation', async () => {
    const count = async () => (await inTenant(gw, tenantId, (tx) => tx.select({ id: chatConversations.id }).from(chatConversations))).length;
    const before = await count();
    await sdk(gw).embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
    await gw.deps.relay.usage.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(await count()).toBe(before);
  });

  it.each([
    ['an empty list', { input: [] }, 'invalid_value'],
    ['missing', {}, 'missing_required_parameter'],
    ['an object', { input: { text: 'hi' } }, 'invalid_type'],
    ['a list of mixed kinds', { input: ['hi', 1] }, 'invalid_type'],
  ])('input %s: 400 naming it, with the code for what is wrong', async (_what, input, code) => {
    const res = await raw(gw, '/v1/embeddings', { body: JSON.stringify({ model: 'text-embedding-3-small', ...input }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { param: string; code: string; type: string } };
    expect(body.error).toMatchObject({ param: 'input', code, type: 'invalid_request_error' });
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('POST /v1/completions (legacy)', () => {
  it('no prompt: 400 missing_required_parameter', async () => {
    const res = await raw(gw, '/v1/completions', { body: JSON.stringify({ model: 'gpt-3.5-turbo-instruct' }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({ param: 'prompt', code: 'missing_required_parameter' });
  });

  it('non-stream', async () => {
    const before = await spend();
    const r = await sdk(gw).completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test', max_tokens: 7, temperature: 0, echo: false });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0]!.text).toBe(DEFAULT_REPLY);
    expect(r.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
    expect(upstream.requests[0]!.path).toBe('/v1/completions');
    expect(upstream.requests[0]!.body).toEqual({ model: 'gpt-3.5-turbo-instruct-0914', prompt: 'Say this is a test', max_tokens: 7, temperature: 0, echo: false });
    await expectBilled(before, 19);
  });

  it('stream without include_usage: text arrives, no usage chunk; the upstream was asked for usage', async () => {
    const before = await spend();
    const stream = await sdk(gw).completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test', stream: true });
    const chunks: OpenAI.Completions.Completion[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(DEFAULT_REPLY);
    expect(chunks.filter((c) => c.usage)).toEqual([]);
    expect(upstream.requests[0]!.body.stream_options).toEqual({ include_usage: true });
    // Billed with the usage the upstream reported, though the client never saw it.
    await expectBilled(before, 19);
  });

  it('stream with include_usage: one usage chunk with choices []', async () => {
    const res = await raw(gw, '/v1/completions', { body: JSON.stringify({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true, stream_options: { include_usage: true } }) });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = sseData(await res.text());
    expect(frames.at(-1)).toBe('[DONE]');
    const usage = frames.slice(0, -1).map((f) => JSON.parse(f) as { choices: unknown[]; usage?: unknown }).filter((c) => c.usage);
    expect(usage).toHaveLength(1);
    expect(usage[0]!.choices).toEqual([]);
  });
});
