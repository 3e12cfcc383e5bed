import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../../src/db/client.js';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/logger.js';
import { createSecretBox } from '../../../src/crypto/secrets.js';
import { runSetup, SetupError, type SetupDeps } from '../../../src/setup/index.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/test-database.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

let fresh: FreshDatabase;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  fresh = await freshDatabase();
});
afterAll(async () => {
  await fresh?.cleanup();
});

function deps(env: Record<string, string>): SetupDeps {
  return {
    config: loadConfig(env),
    logger: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
    database: fresh.database,
    secrets: createSecretBox([{ version: 1, key: randomBytes(32) }]),
  };
}

async function slugs(): Promise<string[]> {
  return (await queryRows<{ slug: string }>(fresh.database.db, sql`select slug from tenant_organizations order by slug`)).map((r) => r.slug);
}

describe('runSetup', () => {
  it('without LYSS_CONFIG, bootstraps an empty database once and logs the generated password once', async () => {
    await runSetup(deps({ LYSS_ADMIN_EMAIL: 'root@example.test' }));
    expect(await slugs()).toEqual(['default']);
    const shown = lines.filter((l) => typeof l.password === 'string');
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ level: 'warn', email: 'root@example.test', msg: expect.stringMatching(/SHOWN ONLY ONCE/) });

    await runSetup(deps({ LYSS_ADMIN_EMAIL: 'root@example.test' }));
    expect(await slugs()).toEqual(['default']);
    expect(lines.filter((l) => typeof l.password === 'string')).toHaveLength(1);
  });

  it('with LYSS_CONFIG, applies the file and logs what it did', async () => {
    await runSetup(deps({ LYSS_CONFIG: path.join(fixtures, 'acme.yaml') }));
    expect(await slugs()).toEqual(['acme', 'default']);
    expect(lines.at(-1)).toMatchObject({ msg: 'LYSS_CONFIG applied', tenants: '1 created, 0 updated, 0 unchanged' });
  });

  it('with LYSS_CONFIG, says that LYSS_ADMIN_EMAIL and LYSS_ADMIN_PASSWORD are not used', async () => {
    lines.length = 0;
    await runSetup(deps({ LYSS_CONFIG: path.join(fixtures, 'acme.yaml'), LYSS_ADMIN_EMAIL: 'root2@example.test', LYSS_ADMIN_PASSWORD: 'a chosen passphrase' }));
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['LYSS_ADMIN_EMAIL and LYSS_ADMIN_PASSWORD ignored: LYSS_CONFIG sets up the users (declare a super_admin there)']);
    lines.length = 0;
    await runSetup(deps({ LYSS_CONFIG: path.join(fixtures, 'acme.yaml'), LYSS_ADMIN_EMAIL: 'root2@example.test' }));
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['LYSS_ADMIN_EMAIL ignored: LYSS_CONFIG sets up the users (declare a super_admin there)']);
  });

  it('throws a SetupError for a bad file', async () => {
    await expect(runSetup(deps({ LYSS_CONFIG: path.join(fixtures, 'missing.yaml') }))).rejects.toBeInstanceOf(SetupError);
  });
});
