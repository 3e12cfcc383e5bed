/**
 * Per-minute request limits are exact under concurrency: a token with rate_limit L admits exactly L of 3L
 * simultaneous requests; the rest get 429 rate_limit_exceeded with Retry-After and never reach upstream.
 * A channel's own limit moves requests to the next channel.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { basicConfig, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { channelOf, startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { concurrently, expectErrorShape, sdk } from '../../helpers/relay.js';

const LIMITED = 'lyss-limited-0123456789abcdef0123456789a';
const L = 70;

let upstream: MockUpstream;
let gw: TestGateway;

function channel(name: string, models: string[], rateLimit: number, priority = 10) {
  return { name, type: 'openai', base_url: `${upstream.url}/${name}`, key: `sk-key-${name}`, models, priority, weight: 1, rate_limit: rateLimit, quota: -1, scope: 'tenant' };
}

beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({
    config: basicConfig(upstream.url, {
      channels: [channel('main', ['gpt-4o-mini'], 1000000), channel('narrow1', ['narrow-model'], 10, 10), channel('narrow2', ['narrow-model'], 10, 5)],
      tokens: [
        { name: 'ci', user: 'dev@acme.test', key: TEST_TOKEN, quota: -1, rate_limit: 1000000 },
        { name: 'limited', user: 'dev@acme.test', key: LIMITED, quota: -1, rate_limit: L },
      ],
    }),
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

const hi = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'hi' }] });

function expectRateLimited(failed: unknown[]) {
  for (const e of failed) {
    expect(e).toBeInstanceOf(OpenAI.APIError);
    const err = e as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(429);
    expectErrorShape(err.error, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    expect(Number(err.headers!.get('retry-after'))).toBeGreaterThanOrEqual(1);
  }
}

describe('rate limits', () => {
  it(`a token limited to ${L}/min: exactly ${L} of ${3 * L} concurrent requests succeed`, async () => {
    const client = sdk(gw, LIMITED);
    // Warm the token cache and open the connections first (listing models books nothing).
    await concurrently(3 * L, () => client.models.list());
    // GCRA lets one more request through every 60 s / L after the burst starts. On a loaded machine the burst
    // may take longer than that to reach the store, so measure when it did: the k-th extra admission needs k
    // intervals, so admissions can exceed L by at most floor(span / interval) (0 on an idle machine).
    const store = gw.deps.relay.store;
    const admit = store.admit;
    let first = Infinity;
    let last = 0;
    store.admit = async (req) => {
      first = Math.min(first, Date.now());
      try {
        return await admit.call(store, req);
      } finally {
        last = Date.now();
      }
    };
    let outcome: Awaited<ReturnType<typeof concurrently>>;
    try {
      outcome = await concurrently(3 * L, () => client.chat.completions.create(hi('gpt-4o-mini')));
    } finally {
      store.admit = admit;
    }
    const { ok, failed } = outcome;
    const slack = Math.floor((last - first) / (60_000 / L));
    expect(ok.length).toBeGreaterThanOrEqual(L);
    expect(ok.length).toBeLessThanOrEqual(L + slack);
    expect(ok.length + failed.length).toBe(3 * L);
    expectRateLimited(failed);
    expect(upstream.requests).toHaveLength(ok.length);
  });

  it('channel limits: each of two channels at 10/min serves 10 of 30, the rest get 429', async () => {
    const { ok, failed } = await concurrently(30, () => sdk(gw).chat.completions.create(hi('narrow-model')));
    expect(ok).toHaveLength(20);
    expect(failed).toHaveLength(10);
    expectRateLimited(failed);
    const byChannel = upstream.requests.map(channelOf);
    expect(byChannel.filter((c) => c === 'narrow1')).toHaveLength(10);
    expect(byChannel.filter((c) => c === 'narrow2')).toHaveLength(10);
  });
});
