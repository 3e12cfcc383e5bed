import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../../src/db/client.js';
import { queryRows } from '../../../src/db/client.js';
import { withTenant } from '../../../src/db/tenant.js';
import { providerChannels, providerTypes } from '../../../src/db/schema/index.js';
import { createSecretBox, type SecretBox } from '../../../src/crypto/secrets.js';
import { sha256Hex } from '../../../src/crypto/digest.js';
import { verifyPassword } from '../../../src/auth/password.js';
import { applyConfig, loadConfigFile } from '../../../src/setup/apply.js';
import { validateConfig, type ParsedConfig } from '../../../src/setup/config-file.js';
import { SetupError } from '../../../src/setup/setup-error.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/test-database.js';
import { dumpDatabase, tenantRows } from './db-dump.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const ACME_TOKEN = 'lyss-0123456789abcdef0123456789abcdef';

let fresh: FreshDatabase;
let db: Db;
const suiteKey = randomBytes(32);
const secrets: SecretBox = createSecretBox([{ version: 1, key: suiteKey }]);

beforeAll(async () => {
  fresh = await freshDatabase();
  db = fresh.database.db;
});
afterAll(async () => {
  await fresh?.cleanup();
});

async function tenantId(slug: string): Promise<string> {
  const [row] = await queryRows<{ id: string }>(db, sql`select id from tenant_organizations where slug = ${slug}`);
  return row!.id;
}

/** Runs `work`, expects a SetupError, and checks the database did not change at all. */
async function expectRefused(work: () => Promise<unknown>): Promise<string[]> {
  const before = await dumpDatabase(db);
  const err = await work().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SetupError);
  expect(await dumpDatabase(db)).toEqual(before);
  return (err as SetupError).problems;
}

/** The acme example, modified by `edit`. */
async function acme(edit: (file: ParsedConfig) => void = () => {}): Promise<ParsedConfig> {
  const file = await loadConfigFile(path.join(fixtures, 'acme.yaml'));
  edit(file);
  return file;
}

describe('applyConfig', () => {
  it('applies the design.md §8 example', async () => {
    const summary = await applyConfig({ db, secrets }, await acme());
    expect(summary).toMatchObject({
      tenants: { created: 1, updated: 0, unchanged: 0 },
      users: { created: 2 },
      groups: { created: 1 },
      members: { added: 1, removed: 0 },
      channels: { created: 1 },
      tokens: { created: 1 },
    });
    const id = await tenantId('acme');
    expect(summary.tenantIds).toEqual([id]);
    expect(summary.changedTenantIds).toEqual([id]);

    const [tenant] = await queryRows<Record<string, unknown>>(db, sql`select name, max_users, settings from tenant_organizations where id = ${id}`);
    expect(tenant).toEqual({ name: 'Acme Inc', max_users: 50, settings: { store_content: true } });

    const users = await tenantRows(db, id, 'auth_users');
    const byEmail = new Map(users.map((u) => [u.email as string, u]));
    expect(byEmail.get('admin@acme.test')).toMatchObject({ role: 'tenant_admin', tenant_id: id });
    expect(byEmail.get('dev@acme.test')).toMatchObject({ role: 'end_user' });
    expect(await verifyPassword('a long passphrase', byEmail.get('admin@acme.test')!.hashed_password as string)).toBe(true);
    expect(await verifyPassword('another passphrase', byEmail.get('dev@acme.test')!.hashed_password as string)).toBe(true);

    const [group] = await tenantRows(db, id, 'tenant_user_groups');
    expect(group).toMatchObject({ name: 'research' });
    const members = await tenantRows(db, id, 'tenant_user_group_members');
    expect(members).toEqual([expect.objectContaining({ group_id: group!.id, user_id: byEmail.get('dev@acme.test')!.id, role: 'member' })]);

    const [openaiType] = await db.select({ id: providerTypes.id }).from(providerTypes).where(eq(providerTypes.name, 'openai'));
    const [channel] = await tenantRows(db, id, 'provider_channels');
    expect(channel).toMatchObject({
      name: 'openai-main',
      type: openaiType!.id,
      base_url: 'http://127.0.0.1:4001',
      models: ['gpt-4o-mini', 'text-embedding-3-small'],
      model_mapping: { 'gpt-4o-mini': 'gpt-4o-mini-2024-07-18' },
      priority: 10,
      weight: 3,
      rate_limit: 1000,
      quota: -1,
      config_scope: 'tenant',
      owner_id: null,
      group_id: null,
      config: {},
      status: 1,
    });
    expect(channel!.key).not.toContain('sk-...');
    expect(secrets.open(channel!.key as string)).toBe('sk-...');

    const [token] = await tenantRows(db, id, 'provider_tokens');
    expect(token).toMatchObject({
      name: 'ci',
      user_id: byEmail.get('dev@acme.test')!.id,
      key: sha256Hex(ACME_TOKEN),
      key_prefix: ACME_TOKEN.slice(0, 12),
      allowed_models: [],
      allowed_channels: [],
      quota: -1,
      rate_limit: 600,
      expires_at: null,
      status: 1,
    });
    // The relay's lookup by digest finds it.
    const found = await queryRows<{ id: string }>(db, sql`select id from lyss_find_token(${sha256Hex(ACME_TOKEN)})`);
    expect(found.map((r) => r.id)).toEqual([token!.id]);
  });

  it('leaves every row byte-identical when the same file is applied again', async () => {
    const before = await dumpDatabase(db);
    const summary = await applyConfig({ db, secrets }, await acme());
    expect(await dumpDatabase(db)).toEqual(before);
    expect(summary).toMatchObject({
      tenants: { created: 0, updated: 0, unchanged: 1 },
      users: { created: 0, updated: 0, unchanged: 2 },
      groups: { created: 0, updated: 0, unchanged: 1 },
      members: { added: 0, removed: 0 },
      channels: { created: 0, updated: 0, unchanged: 1 },
      tokens: { created: 0, updated: 0, unchanged: 1 },
      changedTenantIds: [],
    });
  });

  it('applies groups, personal and group channels, allowed channels by name and expiry; idempotently', async () => {
    const file = await loadConfigFile(path.join(fixtures, 'two-tenants.json'));
    const first = await applyConfig({ db, secrets }, file);
    expect(first.tenants.created).toBe(2);
    const globex = await tenantId('globex');
    const users = new Map((await tenantRows(db, globex, 'auth_users')).map((u) => [u.email as string, u.id as string]));
    expect([...users.keys()].sort()).toEqual(['ana@globex.test', 'bo@globex.test', 'boss@globex.test']);
    const [group] = await tenantRows(db, globex, 'tenant_user_groups');
    const channels = new Map((await tenantRows(db, globex, 'provider_channels')).map((c) => [c.name as string, c]));
    expect(channels.get('team-claude')).toMatchObject({ config_scope: 'group', group_id: group!.id, owner_id: null });
    expect(channels.get('ana-deepseek')).toMatchObject({ config_scope: 'personal', owner_id: users.get('ana@globex.test'), group_id: null });
    expect(channels.get('azure')).toMatchObject({ config_scope: 'tenant', config: { api_version: '2024-10-21' }, base_url: 'https://globex.openai.azure.com' });
    const [token] = await tenantRows(db, globex, 'provider_tokens');
    expect(token).toMatchObject({
      allowed_channels: [channels.get('team-claude')!.id, channels.get('ana-deepseek')!.id],
      allowed_models: ['claude-sonnet-4'],
      quota: 100000,
      rate_limit: 30,
    });
    expect(new Date(token!.expires_at as string).toISOString()).toBe('2031-01-31T00:00:00.000Z');

    const before = await dumpDatabase(db);
    const second = await applyConfig({ db, secrets }, file);
    expect(await dumpDatabase(db)).toEqual(before);
    expect(second.changedTenantIds).toEqual([]);
  });

  it('stores tokens only as digests: no plaintext token anywhere in the database', async () => {
    const text = JSON.stringify(await dumpDatabase(db));
    for (const plaintext of [ACME_TOKEN, 'lyss-ana-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']) {
      expect(text).not.toContain(plaintext);
      expect(text).toContain(sha256Hex(plaintext));
    }
    // Nor channel keys or passwords in clear.
    for (const plaintext of ['sk-ant-team', 'az-key', 'a long passphrase', 'correct horse battery']) expect(text).not.toContain(plaintext);
  });

  it('updates only what changed: new key resealed, new password rehashed, rotated token keeps its id, members synced', async () => {
    const id = await tenantId('acme');
    const [oldChannel] = await tenantRows(db, id, 'provider_channels');
    const [oldToken] = await tenantRows(db, id, 'provider_tokens');
    const oldUsers = new Map((await tenantRows(db, id, 'auth_users')).map((u) => [u.email as string, u]));
    const rotated = 'lyss-rotated-rotated-rotated-rotated-0001';
    const summary = await applyConfig(
      { db, secrets },
      await acme((f) => {
        const t = f.tenants[0]!;
        t.channels[0]!.key = 'sk-new-key';
        t.users[0]!.password = 'a brand new passphrase';
        t.tokens[0]!.key = rotated;
        t.groups[0]!.members = ['admin@acme.test'];
      }),
    );
    expect(summary).toMatchObject({
      users: { updated: 1, unchanged: 1 },
      channels: { updated: 1 },
      tokens: { updated: 1 },
      members: { added: 1, removed: 1 },
      changedTenantIds: [id],
    });
    const [channel] = await tenantRows(db, id, 'provider_channels');
    expect(channel!.id).toBe(oldChannel!.id);
    expect(secrets.open(channel!.key as string)).toBe('sk-new-key');
    const users = new Map((await tenantRows(db, id, 'auth_users')).map((u) => [u.email as string, u]));
    expect(await verifyPassword('a brand new passphrase', users.get('admin@acme.test')!.hashed_password as string)).toBe(true);
    expect(users.get('dev@acme.test')).toEqual(oldUsers.get('dev@acme.test'));
    const [token] = await tenantRows(db, id, 'provider_tokens');
    expect(token).toMatchObject({ id: oldToken!.id, key: sha256Hex(rotated), key_prefix: rotated.slice(0, 12) });
    const members = await tenantRows(db, id, 'tenant_user_group_members');
    expect(members.map((m) => m.user_id)).toEqual([users.get('admin@acme.test')!.id]);

    // Back to the example: everything returns, and runtime state (status, used quota) is never touched.
    await withTenant(db, id, (tx) => tx.update(providerChannels).set({ status: 3, usedQuota: 42 }).where(eq(providerChannels.id, channel!.id as string)));
    await applyConfig({ db, secrets }, await acme());
    const [restored] = await tenantRows(db, id, 'provider_channels');
    expect(restored).toMatchObject({ status: 3, used_quota: 42 });
    expect(secrets.open(restored!.key as string)).toBe('sk-...');
  });

  it('reseals a channel key sealed under an older master key, and only then', async () => {
    const id = await tenantId('acme');
    const [before] = await tenantRows(db, id, 'provider_channels');
    expect((before!.key as string).startsWith('v1:')).toBe(true);
    // The master key rotated: version 2 is current, version 1 still opens old rows.
    const rotated = createSecretBox([{ version: 2, key: randomBytes(32) }, { version: 1, key: suiteKey }]);
    expect((await applyConfig({ db, secrets: rotated }, await acme())).channels.updated).toBe(1);
    const [after] = await tenantRows(db, id, 'provider_channels');
    expect((after!.key as string).startsWith('v2:')).toBe(true);
    expect(rotated.open(after!.key as string)).toBe('sk-...');
    expect((await applyConfig({ db, secrets: rotated }, await acme())).channels.unchanged).toBe(1);
    // Back under the suite's key (version 1 current again) for the tests that follow.
    expect((await applyConfig({ db, secrets }, await acme())).channels.updated).toBe(1);
  });

  describe('refuses bad input, naming the entry, and changes nothing', () => {
    it('malformed YAML', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'lyss-apply-'));
      const file = path.join(dir, 'lyss.yaml');
      await writeFile(file, 'tenants:\n  - slug: acme\n    name: "unterminated\n    users: []\n');
      const problems = await expectRefused(async () => applyConfig({ db, secrets }, await loadConfigFile(file)));
      expect(problems[0]).toMatch(/lyss\.yaml: line \d+, column \d+: /);
    });

    it('an unknown key', async () => {
      const raw = { tenants: [{ slug: 'acme', name: 'Acme Inc', channels: [{ name: 'openai-main', tpye: 'openai', type: 'openai', key: 'k', models: ['m'] }] }] };
      const problems = await expectRefused(async () => applyConfig({ db, secrets }, validateConfig(raw)));
      expect(problems).toEqual(['tenants[0] (acme).channels[0] (openai-main).tpye: unknown key']);
    });

    it('an unknown provider type', async () => {
      const problems = await expectRefused(async () =>
        applyConfig(
          { db, secrets },
          await acme((f) => {
            f.tenants.unshift(newco());
            f.tenants[1]!.channels.push({ ...f.tenants[1]!.channels[0]!, name: 'bad', type: 'foo' });
          }),
        ),
      );
      expect(problems).toEqual([
        'tenants[1] (acme).channels[1] (bad).type: unknown provider type "foo" (known: openai, anthropic, deepseek, azure-openai, zhipu)',
      ]);
    });

    it('a token key that is too short', async () => {
      const raw = { tenants: [{ slug: 'acme', name: 'Acme Inc', tokens: [{ name: 'ci', user: 'dev@acme.test', key: 'lyss-short' }] }] };
      const problems = await expectRefused(async () => applyConfig({ db, secrets }, validateConfig(raw)));
      expect(problems).toEqual(['tenants[0] (acme).tokens[0] (ci).key: must be at least 32 characters']);
    });

    it('channel keys without a secret key (PostgreSQL without LYSS_SECRET_KEY)', async () => {
      const problems = await expectRefused(async () => applyConfig({ db, secrets: null }, await acme((f) => f.tenants.unshift(newco()))));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^tenants\[1\] \(acme\)\.channels\[0\] \(openai-main\)\.key: LYSS_SECRET_KEY is required/);
    });

    it('a group channel naming a missing group', async () => {
      const problems = await expectRefused(async () =>
        applyConfig(
          { db, secrets },
          await acme((f) => {
            f.tenants.unshift(newco());
            f.tenants[1]!.channels.push({ ...f.tenants[1]!.channels[0]!, name: 'team', scope: 'group', group: 'nope' });
          }),
        ),
      );
      expect(problems).toEqual(['tenants[1] (acme).channels[1] (team).group: unknown group "nope" (not in this tenant\'s groups, nor in the database)']);
    });

    it('references to users and channels that exist nowhere', async () => {
      const problems = await expectRefused(async () =>
        applyConfig(
          { db, secrets },
          await acme((f) => {
            const t = f.tenants[0]!;
            t.groups[0]!.members.push('ghost@acme.test');
            t.channels.push({ ...t.channels[0]!, name: 'mine', scope: 'personal', owner: 'nobody@acme.test' });
            t.tokens[0]!.allowed_channels = ['openai-main', 'missing'];
            t.tokens.push({ ...t.tokens[0]!, name: 'x', user: 'who@acme.test', key: 'lyss-another-another-another-another-1', allowed_channels: [] });
          }),
        ),
      );
      expect(problems).toEqual([
        'tenants[0] (acme).groups[0] (research).members[1]: unknown user "ghost@acme.test" (not in this tenant\'s users, nor in the database)',
        'tenants[0] (acme).channels[1] (mine).owner: unknown user "nobody@acme.test" (not in this tenant\'s users, nor in the database)',
        'tenants[0] (acme).tokens[0] (ci).allowed_channels[1]: unknown channel "missing" (not in this tenant\'s channels, nor in the database)',
        'tenants[0] (acme).tokens[1] (x).user: unknown user "who@acme.test" (not in this tenant\'s users, nor in the database)',
      ]);
    });

    it('a token key already used by another tenant', async () => {
      const problems = await expectRefused(async () =>
        applyConfig(
          { db, secrets },
          validateConfig({
            tenants: [
              {
                slug: 'globex',
                name: 'Globex',
                tokens: [{ name: 'stolen', user: 'ana@globex.test', key: ACME_TOKEN }],
              },
            ],
          }),
        ),
      );
      expect(problems).toEqual(['tenants[0] (globex).tokens[0] (stolen): this key is already used by a token of another tenant']);
    });

    it('a failure half-way through the writes rolls everything back', async () => {
      const failing: SecretBox = {
        currentVersion: 1,
        seal: () => {
          throw new Error('sealing failed');
        },
        open: () => 'never matches',
      };
      const before = await dumpDatabase(db);
      await expect(applyConfig({ db, secrets: failing }, await acme((f) => f.tenants.unshift(newco())))).rejects.toThrow('sealing failed');
      // newco (tenant, users) was written before acme's channel failed: none of it remains.
      expect(await dumpDatabase(db)).toEqual(before);
    });
  });
});

/** A valid new tenant, placed before a bad entry to show that nothing of the file is applied. */
function newco(): ParsedConfig['tenants'][number] {
  return validateConfig({
    tenants: [{ slug: 'newco', name: 'New Co', users: [{ email: 'a@newco.test', password: 'long enough password', role: 'tenant_admin' }] }],
  }).tenants[0]!;
}

