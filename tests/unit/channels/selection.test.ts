/**
 * Channel selection (src/channels/select.ts): priority tiers strictly in order, weighted random inside a tier
 * (each channel's first-pick share within ±3 points of its weight share over many draws), and which channels
 * are candidates at all.
 */
import { describe, expect, it } from 'vitest';
import { attemptOrder, candidates, isVisible, visibleModels } from '../../../src/channels/select.js';
import type { Channel } from '../../../src/channels/channel.js';
import type { Principal } from '../../../src/tokens/principal.js';

function channel(id: string, priority: number, weight: number, extra: Partial<Channel> = {}): Channel {
  return {
    id,
    tenantId: 't',
    name: id,
    providerName: 'openai',
    format: 'openai',
    baseUrl: null,
    apiKey: 'sk',
    priority,
    weight,
    status: 1,
    quota: -1,
    usedQuota: 0,
    rateLimit: 100,
    scope: 'tenant',
    ownerId: null,
    groupId: null,
    models: new Set(['m']),
    modelMapping: {},
    config: {},
    createdAt: 0,
    ...extra,
  };
}

function principal(extra: Partial<Principal> = {}): Principal {
  return {
    tokenId: 'tok',
    tokenName: 'tok',
    tenantId: 't',
    userId: 'u1',
    allowedModels: new Set(),
    allowedChannels: new Set(),
    quota: -1,
    usedQuota: 0,
    rateLimit: 100,
    status: 1,
    expiresAt: null,
    user: { role: 'end_user', active: true, groupIds: new Set(['g1']) },
    tenant: { active: true, storeContent: true },
    ...extra,
  };
}

const DRAWS = 40_000;

describe('attemptOrder', () => {
  const top = [channel('a', 10, 1), channel('b', 10, 3), channel('c', 10, 6)];
  const middle = [channel('d', 5, 2), channel('e', 5, 2)];
  const bottom = [channel('f', 1, 1)];
  const all = [bottom[0]!, middle[1]!, top[2]!, middle[0]!, top[0]!, top[1]!];

  it('each channel\'s first-pick share is within 3 points of its weight share', () => {
    const first = new Map<string, number>();
    for (let i = 0; i < DRAWS; i++) {
      const id = attemptOrder(all)[0]!.id;
      first.set(id, (first.get(id) ?? 0) + 1);
    }
    const share = (id: string) => (first.get(id) ?? 0) / DRAWS;
    expect(Math.abs(share('a') - 0.1)).toBeLessThan(0.03);
    expect(Math.abs(share('b') - 0.3)).toBeLessThan(0.03);
    expect(Math.abs(share('c') - 0.6)).toBeLessThan(0.03);
    // Lower tiers are never picked first while the top tier has channels.
    expect(share('d') + share('e') + share('f')).toBe(0);
  });

  it('weights hold for the later places too (draws without replacement)', () => {
    const second = new Map<string, number>();
    for (let i = 0; i < DRAWS; i++) {
      const id = attemptOrder(top)[1]!.id;
      second.set(id, (second.get(id) ?? 0) + 1);
    }
    // P(a second) = P(b first)·1/7 + P(c first)·1/4, and so on.
    const expected = { a: 0.3 / 7 + 0.6 / 4, b: 0.1 * (3 / 9) + 0.6 * (3 / 4), c: 0.1 * (6 / 9) + 0.3 * (6 / 7) };
    for (const [id, p] of Object.entries(expected)) expect(Math.abs((second.get(id) ?? 0) / DRAWS - p)).toBeLessThan(0.03);
  });

  it('a lower tier splits by its own weights when it comes up', () => {
    let d = 0;
    for (let i = 0; i < DRAWS; i++) if (attemptOrder(all)[3]!.id === 'd') d++;
    expect(Math.abs(d / DRAWS - 0.5)).toBeLessThan(0.03);
  });

  it('every order lists every channel once, tiers from highest to lowest priority', () => {
    for (let i = 0; i < 2_000; i++) {
      const order = attemptOrder(all);
      expect(order.map((c) => c.id).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
      const priorities = order.map((c) => c.priority);
      expect(priorities).toEqual([10, 10, 10, 5, 5, 1]);
    }
  });

  it('negative priorities sort below zero', () => {
    const order = attemptOrder([channel('neg', -5, 1), channel('zero', 0, 1), channel('pos', 3, 1)]);
    expect(order.map((c) => c.id)).toEqual(['pos', 'zero', 'neg']);
  });

  it('follows the random source exactly at the edges', () => {
    expect(attemptOrder(top, () => 0).map((c) => c.id)).toEqual(['a', 'b', 'c']);
    expect(attemptOrder(top, () => 0.999999)[0]!.id).toBe('c');
    // r = 0.1 of a total of 10 is 1.0: past a (weight 1), inside b.
    expect(attemptOrder(top, () => 0.1)[0]!.id).toBe('b');
  });

  it('an empty list gives an empty order', () => {
    expect(attemptOrder([])).toEqual([]);
  });
});

describe('candidates', () => {
  it('keeps only enabled, keyed, weighted, visible channels serving the model and not cooling', () => {
    const list = [
      channel('ok', 1, 1),
      channel('disabled', 1, 1, { status: 2 }),
      channel('errored', 1, 1, { status: 3 }),
      channel('no-key', 1, 1, { apiKey: null }),
      channel('zero-weight', 1, 0),
      channel('other-model', 1, 1, { models: new Set(['x']) }),
      channel('cooling', 1, 1),
      channel('their-personal', 1, 1, { scope: 'personal', ownerId: 'u2' }),
      channel('my-personal', 1, 1, { scope: 'personal', ownerId: 'u1' }),
      channel('my-group', 1, 1, { scope: 'group', groupId: 'g1' }),
      channel('other-group', 1, 1, { scope: 'group', groupId: 'g2' }),
    ];
    const { served, usable } = candidates(list, principal(), 'm', (id) => id === 'cooling');
    expect(usable.map((c) => c.id)).toEqual(['ok', 'my-personal', 'my-group']);
    // Served: all but the other model's and the two channels this user cannot see.
    expect(served).toBe(8);
  });

  it('keeps only the channels that offer the endpoint, and counts only those as serving', () => {
    const list = [channel('openai', 1, 1), channel('claude', 1, 1, { format: 'anthropic' })];
    const { served, usable } = candidates(list, principal(), 'm', undefined, (c) => c.format === 'anthropic');
    expect(usable.map((c) => c.id)).toEqual(['claude']);
    expect(served).toBe(1);
  });
});

describe('isVisible and visibleModels', () => {
  it('a token\'s allowed_channels narrows visibility', () => {
    const p = principal({ allowedChannels: new Set(['b']) });
    expect(isVisible(channel('a', 1, 1), p)).toBe(false);
    expect(isVisible(channel('b', 1, 1), p)).toBe(true);
    // ...but never widens it past config_scope.
    expect(isVisible(channel('b', 1, 1, { scope: 'personal', ownerId: 'u2' }), p)).toBe(false);
  });

  it('a group channel without a group is visible to nobody', () => {
    expect(isVisible(channel('g', 1, 1, { scope: 'group', groupId: null }), principal())).toBe(false);
  });

  it('visibleModels applies allowed_models and skips unusable channels', () => {
    const list = [channel('a', 1, 1, { models: new Set(['m1', 'm2']) }), channel('b', 1, 1, { models: new Set(['m3']), status: 2 })];
    expect([...visibleModels(list, principal()).keys()].sort()).toEqual(['m1', 'm2']);
    expect([...visibleModels(list, principal({ allowedModels: new Set(['m2', 'm3']) })).keys()]).toEqual(['m2']);
  });
});
