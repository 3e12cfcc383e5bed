/**
 * Quota is exact: each admitted request holds a reservation of its most possible cost (prompt counted with the
 * tokenizer + max_tokens), so no number of concurrent requests spends more than the quota. What is recorded
 * equals what the successful clients were told they used; everyone else got 429 insufficient_quota before
 * the upstream was called.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { providerTokens } from '../../../src/db/schema/index.js';
import OpenAI from 'openai';
import { Redis } from 'ioredis';
import { basicConfig, eventually, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { channelOf, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { channelRow, concurrently, expectApiError, expectErrorShape, inTenant, sdk, tenantIdOf, tokenRow } from '../../helpers/relay.js';
import { countChatPrompt, countInput } from '../../../src/relay/tokenize.js';
import { sha256Hex } from '../../../src/crypto/digest.js';

const CAPPED = 'lyss-capped-0123456789abcdef0123456789ab';
const CAPPED_STREAM = 'lyss-cappedstream-0123456789abcdef012345';
const SMALL = 'lyss-small-0123456789abcdef0123456789abc';
const FREE = 'lyss-free-0123456789abcdef0123456789abcd';
const LEGACY_LIST = 'lyss-legacylist-0123456789abcdef01234567';
const LEGACY_BEST = 'lyss-legacybest-0123456789abcdef01234567';
const VENDOR = 'lyss-vendor-0123456789abcdef0123456789ab';
const Q = 2000;
const CONCURRENCY = 250;
const MESSAGES = [{ role: 'user' as const, content: 'hi' }];
const PROMPT = countChatPrompt(MESSAGES);

let upstream: MockUpstream;
let gw: TestGateway;
let tenantId: string;

function channel(name: string, models: string[], quota = -1) {
  return { name, type: 'openai', base_url: `${upstream.url}/${name}`, key: `sk-key-${name}`, models, priority: 10, weight: 1, rate_limit: 1000000, quota, scope: 'tenant' };
}
function token(name: string, key: string, quota: number) {
  return { name, user: 'dev@acme.test', key, allowed_models: [], allowed_channels: [], quota, rate_limit: 1000000 };
}

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    config: basicConfig(upstream.url, {
      channels: [channel('main', ['gpt-4o-mini']), channel('burst', ['burst-model']), channel('burst-stream', ['burst-stream-model']), channel('metered', ['metered-model'], 50), { ...channel('free', ['free-model']), rate_limit: 0 }, channel('legacy', ['gpt-3.5-turbo-instruct']), { ...channel('vendor', ['deepseek-chat']), type: 'deepseek' }],
      tokens: [
        token('ci', TEST_TOKEN, -1),
        token('capped', CAPPED, Q),
        token('capped-stream', CAPPED_STREAM, Q),
        token('small', SMALL, 100),
        { ...token('free', FREE, -1), rate_limit: 0 },
        token('legacy-list', LEGACY_LIST, 300),
        token('legacy-best', LEGACY_BEST, 100),
        token('vendor', VENDOR, 1000),
      ],
    }),
  });
  tenantId = await tenantIdOf(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

function expectAllInsufficientQuota(failed: unknown[]) {
  for (const e of failed) {
    expect(e).toBeInstanceOf(OpenAI.APIError);
    const err = e as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(429);
    expectErrorShape(err.error, { type: 'insufficient_quota', code: 'insufficient_quota' });
  }
}

describe(`${CONCURRENCY} concurrent requests against a quota of ${Q}`, () => {
  it('non-stream: recorded spend = usage told to the successful clients <= quota; the rest 429 before upstream', async () => {
    // The mock reports no more prompt tokens than the tokenizer counts (the one residual case, see README).
    upstream.script(() => ({ kind: 'reply', usage: { prompt: PROMPT - 3, completion: 15 } }));
    const client = sdk(gw, CAPPED);
    await concurrently(CONCURRENCY, () => client.models.list()); // warm the token cache and the connections
    const { ok, failed } = await concurrently(CONCURRENCY, () => client.chat.completions.create({ model: 'burst-model', messages: MESSAGES, max_tokens: 20 }));
    expect(ok.length).toBeGreaterThan(20);
    expect(failed.length).toBeGreaterThan(20);
    expectAllInsufficientQuota(failed);
    expect(upstream.requests).toHaveLength(ok.length);
    for (const req of upstream.requests) expect(req.body.max_tokens).toBeLessThanOrEqual(20);

    const told = ok.reduce((sum, r) => sum + r.usage!.total_tokens, 0);
    expect(told).toBeLessThanOrEqual(Q);
    await eventually(async () => expect((await tokenRow(gw, tenantId, 'capped')).usedQuota).toBe(told));
    expect((await channelRow(gw, tenantId, 'burst')).usedQuota).toBe(told);
    // The live counter holds no leftover reservation either.
    const tokenId = (await tokenRow(gw, tenantId, 'capped')).id;
    expect(await gw.deps.store.quotaUsed(`{${tenantId}}:q:t:${tokenId}`)).toBe(told);
  });

  it('stream with include_usage: the same exactness', async () => {
    upstream.script(() => ({ kind: 'reply', usage: { prompt: PROMPT, completion: 15 }, chunks: 3 }));
    const client = sdk(gw, CAPPED_STREAM);
    await concurrently(CONCURRENCY, () => client.models.list());
    const { ok, failed } = await concurrently(CONCURRENCY, async () => {
      const stream = await client.chat.completions.create({ model: 'burst-stream-model', messages: MESSAGES, max_tokens: 20, stream: true, stream_options: { include_usage: true } });
      let usage: OpenAI.CompletionUsage | null | undefined = null;
      for await (const c of stream) usage = c.usage ?? usage;
      return usage!;
    });
    expect(ok.length).toBeGreaterThan(20);
    expect(failed.length).toBeGreaterThan(20);
    expectAllInsufficientQuota(failed);
    expect(upstream.requests).toHaveLength(ok.length);
    const told = ok.reduce((sum, u) => sum + u.total_tokens, 0);
    expect(told).toBeLessThanOrEqual(Q);
    await eventually(async () => expect((await tokenRow(gw, tenantId, 'capped-stream')).usedQuota).toBe(told));
    expect((await channelRow(gw, tenantId, 'burst-stream')).usedQuota).toBe(told);
  });
});

describe('max_tokens sent upstream', () => {
  it('without max_tokens, the gateway caps the completion at what the quota allows', async () => {
    upstream.script(() => ({ kind: 'reply', usage: { prompt: PROMPT, completion: 1 } }));
    await sdk(gw, SMALL).chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
    expect(upstream.requests[0]!.body.max_completion_tokens).toBe(100 - PROMPT);
    expect(upstream.requests[0]!.body.max_tokens).toBeUndefined();
  });

  it('a max_tokens that fits is sent as it is; one that does not is lowered', async () => {
    upstream.script(() => ({ kind: 'reply', usage: { prompt: 0, completion: 0 } }));
    await sdk(gw, SMALL).chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, max_tokens: 10 });
    expect(upstream.requests[0]!.body.max_tokens).toBe(10);
    await sdk(gw, SMALL).chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, max_tokens: 5000 });
    const used = (await gw.deps.store.quotaUsed(`{${tenantId}}:q:t:${(await tokenRow(gw, tenantId, 'small')).id}`)) ?? 0;
    expect(upstream.requests[1]!.body.max_tokens).toBe(100 - used - PROMPT);
    expect(upstream.requests[1]!.body.max_completion_tokens).toBeUndefined();
  });

  it('legacy completions: each prompt of a list, and each of best_of, gets its share of the cap', async () => {
    upstream.script(() => ({ kind: 'reply', usage: { prompt: 0, completion: 0 } }));
    const prompts = Array.from({ length: 10 }, (_, i) => `p${i}`);
    await sdk(gw, LEGACY_LIST).completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: prompts, max_tokens: 50 });
    expect(upstream.requests[0]!.body.max_tokens).toBe(Math.floor((300 - countInput(prompts)) / 10));
    await sdk(gw, LEGACY_BEST).completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', best_of: 5, max_tokens: 50 });
    expect(upstream.requests[1]!.body.max_tokens).toBe(Math.floor((100 - countInput('x')) / 5));
  });

  it('a compatible vendor gets the cap as max_tokens too, whichever field the client set', async () => {
    upstream.script(() => ({ kind: 'reply', usage: { prompt: 0, completion: 0 } }));
    // It may know only max_tokens: a client's max_completion_tokens alone would leave it uncapped.
    await sdk(gw, VENDOR).chat.completions.create({ model: 'deepseek-chat', messages: MESSAGES, max_completion_tokens: 50 });
    expect(upstream.requests[0]!.body).toMatchObject({ max_tokens: 50, max_completion_tokens: 50 });
    await sdk(gw, VENDOR).chat.completions.create({ model: 'deepseek-chat', messages: MESSAGES, max_completion_tokens: 5000 });
    expect(upstream.requests[1]!.body).toMatchObject({ max_tokens: 1000 - PROMPT, max_completion_tokens: 1000 - PROMPT });
    // Both set, the larger lowered to the cap.
    await sdk(gw, VENDOR).chat.completions.create({ model: 'deepseek-chat', messages: MESSAGES, max_tokens: 5000, max_completion_tokens: 40 });
    expect(upstream.requests[2]!.body).toMatchObject({ max_tokens: 40, max_completion_tokens: 40 });
  });

  it('a channel out of quota: 429 insufficient_quota, upstream not called', async () => {
    await expectApiError(sdk(gw).chat.completions.create({ model: 'metered-model', messages: [{ role: 'user', content: 'x '.repeat(60) }] }), {
      status: 429,
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    });
    expect(upstream.requests.map(channelOf)).toEqual([]);
  });

  it('no limit anywhere: on Redis no script call per request (a lease adds the spend up), and the spend still counts for a quota set later', async () => {
    const first = await sdk(gw, FREE).chat.completions.create({ model: 'free-model', messages: MESSAGES });
    let spent = first.usage!.total_tokens;
    // The first one seeds the counters. Each of the next would cost a settle of its own without the lease; with
    // it, one settle per lease (six windows of 250 ms here). The in-process store has no leases and no round trips.
    const scripts = vi.spyOn(Redis.prototype, 'evalsha');
    const n = 8;
    try {
      for (let i = 0; i < n; i++) {
        const done = await sdk(gw, FREE).chat.completions.create({ model: 'free-model', messages: MESSAGES });
        spent += done.usage!.total_tokens;
      }
      if (process.env.REDIS_URL) expect(scripts.mock.calls.length).toBeLessThanOrEqual(n / 2);
    } finally {
      scripts.mockRestore();
    }
    // A quota of exactly what was spent while unlimited leaves nothing, whether or not PostgreSQL has the spend yet.
    await inTenant(gw, tenantId, (tx) => tx.update(providerTokens).set({ quota: spent }).where(eq(providerTokens.name, 'free')));
    await eventually(async () => expect((await gw.deps.relay.principals.get(sha256Hex(FREE)))?.quota).toBe(spent));
    await expectApiError(sdk(gw, FREE).chat.completions.create({ model: 'free-model', messages: MESSAGES }), { status: 429, type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(upstream.requests.map(channelOf)).toEqual(Array(n + 1).fill('free'));
  });
});
