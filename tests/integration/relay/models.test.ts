/**
 * GET /v1/models and /v1/models/{id}: exactly the models this token may call, in OpenAI's shapes. Visibility
 * follows config_scope (tenant; group: members only; personal: the owner only), the token's allowed_models
 * and allowed_channels, and the channel's status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { expectApiError, inTenant, sdk, tenantIdOf } from '../../helpers/relay.js';
import { providerChannels } from '../../../src/db/schema/index.js';

const OTHER = 'lyss-other-0123456789abcdef0123456789abc';
const NARROW = 'lyss-narrow-0123456789abcdef0123456789ab';
const PINNED = 'lyss-pinned-0123456789abcdef0123456789ab';
const GUEST = 'lyss-guest-0123456789abcdef0123456789abc';

let upstream: MockUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startMockUpstream();
  const ch = (name: string, models: string[], scope: Record<string, unknown> = { scope: 'tenant' }) => ({
    name,
    type: 'openai',
    base_url: upstream.url,
    key: `sk-${name}`,
    models,
    priority: 1,
    weight: 1,
    rate_limit: 100000,
    ...scope,
  });
  const tok = (name: string, user: string, key: string, extra: Record<string, unknown> = {}) => ({ name, user, key, rate_limit: 100000, ...extra });
  gw = await startGateway({
    config: {
      tenants: [
        {
          slug: 'acme',
          name: 'Acme',
          users: [
            { email: 'dev@acme.test', password: 'another passphrase', role: 'end_user' },
            { email: 'other@acme.test', password: 'yet another passphrase', role: 'end_user' },
            { email: 'guest@acme.test', password: 'a guest passphrase', role: 'end_user' },
          ],
          groups: [
            { name: 'research', members: ['dev@acme.test'] },
            { name: 'sales', members: ['other@acme.test'] },
          ],
          channels: [
            ch('shared', ['gpt-4o-mini', 'text-embedding-3-small', 'meta-llama/Llama-3.1-8B']),
            ch('research-ch', ['research-model'], { scope: 'group', group: 'research' }),
            ch('sales-ch', ['sales-model'], { scope: 'group', group: 'sales' }),
            ch('mine', ['dev-private', 'gpt-4o-mini'], { scope: 'personal', owner: 'dev@acme.test' }),
            ch('theirs', ['other-private'], { scope: 'personal', owner: 'other@acme.test' }),
            ch('off', ['off-model']),
          ],
          tokens: [
            tok('ci', 'dev@acme.test', TEST_TOKEN),
            tok('narrow', 'dev@acme.test', NARROW, { allowed_models: ['gpt-4o-mini', 'sales-model'] }),
            tok('pinned', 'dev@acme.test', PINNED, { allowed_channels: ['mine'] }),
            tok('other', 'other@acme.test', OTHER),
            tok('guest', 'guest@acme.test', GUEST),
          ],
        },
        {
          slug: 'globex',
          name: 'Globex',
          users: [{ email: 'dev@globex.test', password: 'globex passphrase', role: 'end_user' }],
          channels: [{ ...ch('globex-ch', ['globex-model']), base_url: upstream.url }],
        },
      ],
    },
  });
  const tenantId = await tenantIdOf(gw);
  await inTenant(gw, tenantId, (tx) => tx.update(providerChannels).set({ status: 2 }).where(eq(providerChannels.name, 'off')));
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

async function ids(key: string): Promise<string[]> {
  const page = await sdk(gw, key).models.list();
  return page.data.map((m) => m.id);
}

describe('GET /v1/models', () => {
  it('lists, in OpenAI shape, the models of the channels this user can see', async () => {
    const res = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = (await res.json()) as { object: string; data: Record<string, unknown>[] };
    expect(body.object).toBe('list');
    for (const m of body.data) {
      expect(Object.keys(m).sort()).toEqual(['created', 'id', 'object', 'owned_by']);
      expect(m.object).toBe('model');
      expect(Number.isInteger(m.created)).toBe(true);
      expect(m.owned_by).toBeTypeOf('string');
    }
    expect(body.data.map((m) => m.id).sort()).toEqual(['dev-private', 'gpt-4o-mini', 'meta-llama/Llama-3.1-8B', 'research-model', 'text-embedding-3-small']);
  });

  it('hides another user\'s personal channel and a group the user is not in', async () => {
    expect(await ids(TEST_TOKEN)).not.toEqual(expect.arrayContaining(['other-private']));
    expect(await ids(TEST_TOKEN)).not.toContain('sales-model');
    expect((await ids(OTHER)).sort()).toEqual(['gpt-4o-mini', 'meta-llama/Llama-3.1-8B', 'other-private', 'sales-model', 'text-embedding-3-small']);
    expect((await ids(GUEST)).sort()).toEqual(['gpt-4o-mini', 'meta-llama/Llama-3.1-8B', 'text-embedding-3-small']);
  });

  it('never shows another tenant\'s models, nor a disabled channel\'s', async () => {
    for (const key of [TEST_TOKEN, OTHER, GUEST]) {
      const seen = await ids(key);
      expect(seen).not.toContain('globex-model');
      expect(seen).not.toContain('off-model');
    }
  });

  it('filters by the token\'s allowed_models and allowed_channels', async () => {
    // sales-model is allowed by the token but served by no channel this user can see.
    expect(await ids(NARROW)).toEqual(['gpt-4o-mini']);
    expect((await ids(PINNED)).sort()).toEqual(['dev-private', 'gpt-4o-mini']);
  });
});

describe('GET /v1/models/{id}', () => {
  it('returns a visible model', async () => {
    const m = await sdk(gw).models.retrieve('research-model');
    expect(m).toEqual({ id: 'research-model', object: 'model', created: expect.any(Number), owned_by: 'openai' });
  });

  it('handles ids with a slash', async () => {
    const m = await sdk(gw).models.retrieve('meta-llama/Llama-3.1-8B');
    expect(m.id).toBe('meta-llama/Llama-3.1-8B');
  });

  it.each([
    ['another user\'s personal model', TEST_TOKEN, 'other-private'],
    ['a model of a group the user is not in', TEST_TOKEN, 'sales-model'],
    ['a model outside allowed_models', NARROW, 'research-model'],
    ['a model outside allowed_channels', PINNED, 'research-model'],
    ['another tenant\'s model', TEST_TOKEN, 'globex-model'],
    ['a disabled channel\'s model', TEST_TOKEN, 'off-model'],
    ['a model nobody serves', TEST_TOKEN, 'gpt-9'],
  ])('404 model_not_found for %s', async (_label, key, model) => {
    await expectApiError(sdk(gw, key).models.retrieve(model), { status: 404, type: 'invalid_request_error', code: 'model_not_found' });
  });

  it('and chat refuses the same invisible models with 404, never reaching upstream', async () => {
    for (const model of ['other-private', 'sales-model', 'globex-model']) {
      await expectApiError(sdk(gw).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }), { status: 404, type: 'invalid_request_error', code: 'model_not_found' });
    }
    await expectApiError(sdk(gw, PINNED).chat.completions.create({ model: 'research-model', messages: [{ role: 'user', content: 'hi' }] }), { status: 404, type: 'invalid_request_error', code: 'model_not_found' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('a token pinned to a channel is served by that channel only', async () => {
    await sdk(gw, PINNED).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer sk-mine');
  });
});
