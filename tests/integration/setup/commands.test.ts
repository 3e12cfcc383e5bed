import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../../src/db/client.js';
import { createSecretBox } from '../../../src/crypto/secrets.js';
import { sha256Hex } from '../../../src/crypto/digest.js';
import { verifyPassword } from '../../../src/auth/password.js';
import { createChannel, createTenant, createToken, createUser } from '../../../src/setup/commands.js';
import { SetupError } from '../../../src/setup/setup-error.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/test-database.js';
import { dumpDatabase, tenantRows } from './db-dump.js';

let fresh: FreshDatabase;
let db: Db;
const secrets = createSecretBox([{ version: 1, key: randomBytes(32) }]);

beforeAll(async () => {
  fresh = await freshDatabase();
  db = fresh.database.db;
});
afterAll(async () => {
  await fresh?.cleanup();
});

async function refused(work: () => Promise<unknown>): Promise<string[]> {
  const before = await dumpDatabase(db);
  const err = await work().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SetupError);
  expect(await dumpDatabase(db)).toEqual(before);
  return (err as SetupError).problems;
}

describe('CLI create commands', () => {
  let tenantId: string;

  it('create-tenant, then refuses the same slug', async () => {
    tenantId = (await createTenant(db, { slug: 'acme', name: 'Acme', maxUsers: 5 })).id;
    const [row] = await queryRows<Record<string, unknown>>(db, sql`select slug, name, max_users from tenant_organizations where id = ${tenantId}`);
    expect(row).toEqual({ slug: 'acme', name: 'Acme', max_users: 5 });
    expect(await refused(() => createTenant(db, { slug: 'acme', name: 'Other' }))).toEqual(['--slug: tenant "acme" already exists']);
    expect(await refused(() => createTenant(db, { slug: 'Bad Slug', name: 'x', maxUsers: 0 }))).toEqual([
      '--slug: must be lowercase letters, digits and inner hyphens',
      '--max-users: must be at least 1',
    ]);
  });

  it('create-user, validated like the file, and refuses duplicates', async () => {
    await createUser(db, { tenant: 'acme', email: 'Dev@Acme.test', password: 'a long passphrase', role: 'end_user' });
    const [user] = await tenantRows(db, tenantId, 'auth_users');
    expect(user).toMatchObject({ email: 'dev@acme.test', role: 'end_user' });
    expect(await verifyPassword('a long passphrase', user!.hashed_password as string)).toBe(true);
    expect(await refused(() => createUser(db, { tenant: 'acme', email: 'dev@acme.test', password: 'a long passphrase', role: 'end_user' }))).toEqual([
      '--email: user "dev@acme.test" already exists in tenant "acme"',
    ]);
    expect(await refused(() => createUser(db, { tenant: 'nope', email: 'x@y.test', password: 'a long passphrase', role: 'end_user' }))).toEqual([
      '--tenant: unknown tenant "nope"',
    ]);
    expect(await refused(() => createUser(db, { tenant: 'acme', email: 'x@y.test', password: 'short', role: 'god' }))).toEqual([
      '--password: must be at least 12 characters',
      '--role: must be one of super_admin, tenant_admin, end_user',
    ]);
  });

  it('create-user takes a seat: refused once the tenant has max_users active users, as the admin API refuses', async () => {
    await createTenant(db, { slug: 'tiny', name: 'Tiny', maxUsers: 1 });
    await createUser(db, { tenant: 'tiny', email: 'one@tiny.test', password: 'a long passphrase', role: 'tenant_admin' });
    expect(await refused(() => createUser(db, { tenant: 'tiny', email: 'two@tiny.test', password: 'a long passphrase', role: 'end_user' }))).toEqual([
      '--tenant: "tiny" already has 1 active users, its max_users',
    ]);
  });

  it('create-channel seals the key and checks the type, scope and name', async () => {
    const { id } = await createChannel({ db, secrets }, { tenant: 'acme', name: 'main', type: 'openai', key: 'sk-cli', models: ['gpt-4o'], baseUrl: 'http://127.0.0.1:4001' });
    const [channel] = await tenantRows(db, tenantId, 'provider_channels');
    expect(channel).toMatchObject({ id, name: 'main', config_scope: 'tenant', models: ['gpt-4o'], base_url: 'http://127.0.0.1:4001' });
    expect(secrets.open(channel!.key as string)).toBe('sk-cli');
    expect(await refused(() => createChannel({ db, secrets }, { tenant: 'acme', name: 'main', type: 'foo', key: 'k', models: ['m'] }))).toEqual([
      '--type: unknown provider type "foo" (known: openai, anthropic, deepseek, azure-openai, zhipu)',
      '--name: channel "main" already exists in tenant "acme"',
    ]);
    expect(await refused(() => createChannel({ db, secrets }, { tenant: 'acme', name: 'g', type: 'openai', key: 'k', models: ['m'], scope: 'group', group: 'none' }))).toEqual([
      '--group: unknown group "none"',
    ]);
    expect(await refused(() => createChannel({ db, secrets: null }, { tenant: 'acme', name: 'x', type: 'openai', key: 'k', models: ['m'] })))
      .toEqual([expect.stringMatching(/^--key: LYSS_SECRET_KEY is required/)]);
    await createChannel({ db, secrets }, { tenant: 'acme', name: 'mine', type: 'deepseek', key: 'k', models: ['deepseek-chat'], scope: 'personal', owner: 'dev@acme.test' });
  });

  it('create-token returns a fresh token once and stores only its digest', async () => {
    const { id, token } = await createToken(db, { tenant: 'acme', user: 'dev@acme.test', name: 'laptop', allowedChannels: ['main'], rateLimit: 10 });
    expect(token).toMatch(/^lyss-[A-Za-z0-9_-]{40}$/);
    const [row] = await tenantRows(db, tenantId, 'provider_tokens');
    const [main] = (await tenantRows(db, tenantId, 'provider_channels')).filter((c) => c.name === 'main');
    expect(row).toMatchObject({ id, name: 'laptop', key: sha256Hex(token), key_prefix: token.slice(0, 12), allowed_channels: [main!.id], rate_limit: 10 });
    expect(JSON.stringify(await dumpDatabase(db))).not.toContain(token);
    expect(await refused(() => createToken(db, { tenant: 'acme', user: 'dev@acme.test', name: 'laptop' }))).toEqual([
      '--name: dev@acme.test already has a token named "laptop"',
    ]);
    expect(await refused(() => createToken(db, { tenant: 'acme', user: 'ghost@acme.test', name: 'x' }))).toEqual([
      '--user: unknown user "ghost@acme.test" in tenant "acme"',
    ]);
    expect(await refused(() => createToken(db, { tenant: 'acme', user: 'dev@acme.test', name: 'y', allowedChannels: ['nope'] }))).toEqual([
      '--allowed-channels: unknown channel "nope"',
    ]);
  });
});
