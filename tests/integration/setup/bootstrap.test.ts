import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { openDatabase, queryRows, type Database, type Db } from '../../../src/db/client.js';
import { createLogger } from '../../../src/logger.js';
import { verifyPassword } from '../../../src/auth/password.js';
import { bootstrap } from '../../../src/setup/bootstrap.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/test-database.js';
import { tenantRows } from './db-dump.js';

let fresh: FreshDatabase;
let db: Db;
const logger = createLogger('silent');

beforeAll(async () => {
  fresh = await freshDatabase();
  db = fresh.database.db;
});
afterAll(async () => {
  await fresh?.cleanup();
});
// Each test starts from an empty database; deleting the tenants cascades to their users.
beforeEach(async () => {
  await db.execute(sql`delete from tenant_organizations`);
});

async function tenants(): Promise<{ id: string; slug: string; name: string }[]> {
  return queryRows(db, sql`select id, slug, name from tenant_organizations`);
}

describe('bootstrap', () => {
  it('creates the default tenant and a super admin with a generated password, once', async () => {
    const first = await bootstrap({ db, logger }, { adminEmail: 'Root@Example.test' });
    expect(first.created).toBe(true);
    expect(first.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const [tenant, ...others] = await tenants();
    expect(others).toEqual([]);
    expect(tenant).toMatchObject({ slug: 'default', name: 'Default' });
    const users = await tenantRows(db, tenant!.id, 'auth_users');
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ email: 'root@example.test', role: 'super_admin', status: 'active', is_active: true });
    expect(await verifyPassword(first.password!, users[0]!.hashed_password as string)).toBe(true);

    const second = await bootstrap({ db, logger }, { adminEmail: 'root@example.test' });
    expect(second).toEqual({ created: false });
    expect(await tenants()).toHaveLength(1);
    expect(await tenantRows(db, tenant!.id, 'auth_users')).toEqual(users);
  });

  it('uses the given password and returns none', async () => {
    const result = await bootstrap({ db, logger }, { adminEmail: 'admin@lyss.local', adminPassword: 'given long password' });
    expect(result).toEqual({ created: true });
    const [tenant] = await tenants();
    const [user] = await tenantRows(db, tenant!.id, 'auth_users');
    expect(await verifyPassword('given long password', user!.hashed_password as string)).toBe(true);
  });

  it('does nothing when any tenant exists', async () => {
    await db.execute(sql`insert into tenant_organizations (slug, name) values ('acme', 'Acme')`);
    expect(await bootstrap({ db, logger }, { adminEmail: 'admin@lyss.local' })).toEqual({ created: false });
    expect((await tenants()).map((t) => t.slug)).toEqual(['acme']);
  });

  it('creates once when called concurrently (several instances starting together)', async () => {
    // On PostgreSQL each "instance" is its own connection pool on the same database; PGlite has one session.
    const extra: Database[] = fresh.url ? await Promise.all([1, 2, 3].map(() => openDatabase({ url: fresh.url, poolSize: 2 }))) : [];
    try {
      const dbs = [db, db, ...extra.map((d) => d.db)];
      const results = await Promise.all(dbs.map((d) => bootstrap({ db: d, logger }, { adminEmail: 'admin@lyss.local' })));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const all = await tenants();
      expect(all).toHaveLength(1);
      expect(await tenantRows(db, all[0]!.id, 'auth_users')).toHaveLength(1);
    } finally {
      await Promise.all(extra.map((d) => d.close()));
    }
  });
});
