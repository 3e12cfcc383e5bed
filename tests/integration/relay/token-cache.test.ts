/**
 * The relay's in-process caches (tokens, channels, group membership, tenants) follow changes made straight in
 * the database within a second: the NOTIFY trigger (drizzle/0004_change_notifications.sql) drops the
 * tenant's entries, and the next request reads the new state.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';
import { expectApiError, inTenant, sdk, tenantIdOf, db } from '../../helpers/relay.js';
import { authUsers, providerChannels, providerTokens, tenantOrganizations, tenantUserGroupMembers, tenantUserGroups } from '../../../src/db/schema/index.js';

const key = (name: string) => `lyss-${name}-${'0123456789abcdef'.repeat(3)}`.slice(0, 44);
const WITHIN_MS = 1000;

let upstream: MockUpstream;
let gw: TestGateway;
let acme: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  const tok = (name: string, user = 'dev@acme.test') => ({ name, user, key: key(name), rate_limit: 100000 });
  const ch = (name: string, models: string[], extra: Record<string, unknown> = {}) => ({ name, type: 'openai', base_url: upstream.url, key: `sk-${name}`, models, rate_limit: 100000, scope: 'tenant', ...extra });
  gw = await startGateway({
    config: {
      tenants: [
        {
          slug: 'acme',
          name: 'Acme',
          users: [
            { email: 'dev@acme.test', password: 'another passphrase', role: 'end_user' },
            { email: 'leaver@acme.test', password: 'another passphrase', role: 'end_user' },
          ],
          groups: [{ name: 'research', members: [] }],
          channels: [ch('main', ['gpt-4o-mini']), ch('lab', ['lab-model'], { scope: 'group', group: 'research' }), ch('solo', ['solo-model'])],
          tokens: [tok('ci'), tok('status'), tok('doomed'), tok('models'), tok('quota'), tok('expiry'), tok('leaver', 'leaver@acme.test')],
        },
        { slug: 'initech', name: 'Initech', users: [{ email: 'dev@initech.test', password: 'another passphrase', role: 'end_user' }], channels: [ch('main', ['gpt-4o-mini'])], tokens: [tok('initech', 'dev@initech.test')] },
      ],
    },
  });
  acme = await tenantIdOf(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});
beforeEach(() => upstream.reset());

const hi = (model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user' as const, content: 'hi' }] });

/** Makes sure `name`'s token is cached (served once), changes the database, and returns when the change happened. */
async function changeAfterCaching(tokenKey: string, change: () => Promise<unknown>): Promise<number> {
  await sdk(gw, tokenKey).chat.completions.create(hi());
  await change();
  return Date.now();
}

/** Passes once `check` holds, failing if that takes more than a second after `changedAt`. */
async function seenWithinASecond(changedAt: number, check: () => Promise<void>) {
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() - changedAt > WITHIN_MS) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const setToken = (name: string, values: Partial<typeof providerTokens.$inferInsert>) =>
  inTenant(gw, acme, (tx) => tx.update(providerTokens).set(values).where(eq(providerTokens.name, name)));

describe('changes made in the database reach the relay within a second', () => {
  it('a token disabled, then enabled again', async () => {
    const at = await changeAfterCaching(key('status'), () => setToken('status', { status: 2 }));
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('status')).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
    });
    await setToken('status', { status: 1 });
    const back = Date.now();
    await seenWithinASecond(back, async () => {
      await sdk(gw, key('status')).chat.completions.create(hi());
    });
  });

  it('a token deleted', async () => {
    const at = await changeAfterCaching(key('doomed'), () => inTenant(gw, acme, (tx) => tx.delete(providerTokens).where(eq(providerTokens.name, 'doomed'))));
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('doomed')).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
    });
  });

  it('allowed_models narrowed', async () => {
    const at = await changeAfterCaching(key('models'), () => setToken('models', { allowedModels: ['solo-model'] }));
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('models')).chat.completions.create(hi()), { status: 403, type: 'invalid_request_error', code: 'model_not_allowed' });
    });
  });

  it('quota cut to zero', async () => {
    const at = await changeAfterCaching(key('quota'), () => setToken('quota', { quota: 0 }));
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('quota')).chat.completions.create(hi()), { status: 429, type: 'insufficient_quota', code: 'insufficient_quota' });
    });
  });

  it('an expiry set in the past', async () => {
    const at = await changeAfterCaching(key('expiry'), () => setToken('expiry', { expiresAt: new Date(Date.now() - 60_000) }));
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('expiry')).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'token_expired' });
    });
  });

  it('a user deactivated', async () => {
    const at = await changeAfterCaching(key('leaver'), () => inTenant(gw, acme, (tx) => tx.update(authUsers).set({ isActive: false }).where(eq(authUsers.email, 'leaver@acme.test'))));
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('leaver')).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
    });
  });

  it('a channel disabled: its model leaves /v1/models and chat answers 503', async () => {
    expect((await sdk(gw, key('ci')).models.list()).data.map((m) => m.id)).toContain('solo-model');
    await sdk(gw, key('ci')).chat.completions.create(hi('solo-model'));
    await inTenant(gw, acme, (tx) => tx.update(providerChannels).set({ status: 2 }).where(eq(providerChannels.name, 'solo')));
    const at = Date.now();
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('ci')).chat.completions.create(hi('solo-model')), { status: 503, type: 'server_error', code: 'no_available_channel' });
      expect((await sdk(gw, key('ci')).models.list()).data.map((m) => m.id)).not.toContain('solo-model');
    });
  });

  it('a user added to a group sees the group\'s channel', async () => {
    await expectApiError(sdk(gw, key('ci')).chat.completions.create(hi('lab-model')), { status: 404, type: 'invalid_request_error', code: 'model_not_found' });
    await inTenant(gw, acme, async (tx) => {
      const [group] = await tx.select({ id: tenantUserGroups.id }).from(tenantUserGroups).where(eq(tenantUserGroups.name, 'research'));
      const [user] = await tx.select({ id: authUsers.id }).from(authUsers).where(eq(authUsers.email, 'dev@acme.test'));
      await tx.insert(tenantUserGroupMembers).values({ tenantId: acme, groupId: group!.id, userId: user!.id });
    });
    const at = Date.now();
    await seenWithinASecond(at, async () => {
      const r = await sdk(gw, key('ci')).chat.completions.create(hi('lab-model'));
      expect(r.choices).toHaveLength(1);
    });
    await inTenant(gw, acme, (tx) => tx.delete(tenantUserGroupMembers).where(and(eq(tenantUserGroupMembers.tenantId, acme))));
    const removed = Date.now();
    await seenWithinASecond(removed, async () => {
      await expectApiError(sdk(gw, key('ci')).chat.completions.create(hi('lab-model')), { status: 404, type: 'invalid_request_error', code: 'model_not_found' });
    });
  });

  it('a token created after it was refused as unknown', async () => {
    const fresh = key('newcomer');
    await expectApiError(sdk(gw, fresh).chat.completions.create(hi()), { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' });
    await gw.apply({ tenants: [{ slug: 'acme', name: 'Acme', tokens: [{ name: 'newcomer', user: 'dev@acme.test', key: fresh, rate_limit: 1000 }] }] });
    const at = Date.now();
    await seenWithinASecond(at, async () => {
      await sdk(gw, fresh).chat.completions.create(hi());
    });
  });

  it('a tenant suspended, without touching another tenant', async () => {
    await sdk(gw, key('initech')).chat.completions.create(hi());
    await db(gw).update(tenantOrganizations).set({ status: 'suspended' }).where(eq(tenantOrganizations.slug, 'initech'));
    const at = Date.now();
    await seenWithinASecond(at, async () => {
      await expectApiError(sdk(gw, key('initech')).chat.completions.create(hi()), { status: 403, type: 'invalid_request_error', code: 'tenant_suspended' });
    });
    await sdk(gw, key('ci')).chat.completions.create(hi());
  });
});
