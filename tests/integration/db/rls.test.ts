/** Row Level Security, on whichever backend runs (PGlite by default, PostgreSQL with DATABASE_URL). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../../src/db/client.js';
import { withTenant } from '../../../src/db/tenant.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/test-database.js';

const TENANT_TABLES = [
  'auth_users',
  'auth_user_sessions',
  'auth_oauth_providers',
  'auth_oauth_connections',
  'tenant_user_groups',
  'tenant_user_group_members',
  'provider_channels',
  'provider_tokens',
  'chat_conversations',
  'chat_messages',
  'chat_conversation_summaries',
  'memory_user_memories',
  'memory_associations',
] as const;

let fresh: FreshDatabase;
let db: Db;
const tenants = { a: randomUUID(), b: randomUUID() };

/** One row in every tenant-scoped table for `tenant`, linked the way the application links them. */
async function seedTenant(tenant: string, slug: string): Promise<void> {
  await db.execute(sql`insert into tenant_organizations (id, name, slug) values (${tenant}, ${slug}, ${slug})`);
  await withTenant(db, tenant, async (tx) => {
    const ids = Object.fromEntries(['user', 'group', 'channel', 'conv', 'provider', 'mem1', 'mem2'].map((k) => [k, randomUUID()]));
    const q = (s: ReturnType<typeof sql>) => tx.execute(s);
    await q(sql`insert into auth_users (id, tenant_id, email, hashed_password) values (${ids.user}, ${tenant}, ${`u@${slug}.test`}, 'x')`);
    await q(sql`insert into auth_user_sessions (user_id, tenant_id, session_token, refresh_token, expires_at, refresh_expires_at)
                values (${ids.user}, ${tenant}, ${`s-${slug}`}, ${`r-${slug}`}, now(), now())`);
    await q(sql`insert into auth_oauth_providers (id, tenant_id, provider_name, client_id, encrypted_client_secret, redirect_uri)
                values (${ids.provider}, ${tenant}, 'github', 'cid', 'v1:x', 'http://localhost/cb')`);
    await q(sql`insert into auth_oauth_connections (tenant_id, user_id, provider_id, external_id) values (${tenant}, ${ids.user}, ${ids.provider}, ${`ext-${slug}`})`);
    await q(sql`insert into tenant_user_groups (id, tenant_id, name, created_by) values (${ids.group}, ${tenant}, 'g', ${ids.user})`);
    await q(sql`insert into tenant_user_group_members (tenant_id, group_id, user_id) values (${tenant}, ${ids.group}, ${ids.user})`);
    await q(sql`insert into provider_channels (id, tenant_id, name, type, key, config_scope) values (${ids.channel}, ${tenant}, 'c', 1, 'v1:x', 'tenant')`);
    await q(sql`insert into provider_tokens (tenant_id, user_id, name, key, key_prefix) values (${tenant}, ${ids.user}, 't', ${`digest-${slug}`}, 'lyss-')`);
    await q(sql`insert into chat_conversations (id, tenant_id, user_id, title) values (${ids.conv}, ${tenant}, ${ids.user}, 'hello')`);
    await q(sql`insert into chat_messages (tenant_id, conversation_id, role, content) values (${tenant}, ${ids.conv}, 'user', 'hi')`);
    await q(sql`insert into chat_conversation_summaries (tenant_id, conversation_id, summary_text) values (${tenant}, ${ids.conv}, 's')`);
    await q(sql`insert into memory_user_memories (id, tenant_id, user_id, memory_text, memory_hash) values (${ids.mem1}, ${tenant}, ${ids.user}, 'm1', 'h1')`);
    await q(sql`insert into memory_user_memories (id, tenant_id, user_id, memory_text, memory_hash) values (${ids.mem2}, ${tenant}, ${ids.user}, 'm2', 'h2')`);
    await q(sql`insert into memory_associations (tenant_id, memory_id, related_memory_id) values (${tenant}, ${ids.mem1}, ${ids.mem2})`);
  });
}

beforeAll(async () => {
  fresh = await freshDatabase();
  db = fresh.database.db;
  await seedTenant(tenants.a, `a-${tenants.a.slice(0, 8)}`);
  await seedTenant(tenants.b, `b-${tenants.b.slice(0, 8)}`);
});
afterAll(() => fresh?.cleanup());

const count = async (tx: Db, table: string, where = sql`true`) =>
  Number((await queryRows<{ n: string | number }>(tx, sql`select count(*) as n from ${sql.identifier(table)} where ${where}`))[0]!.n);

describe(`row level security (${process.env.DATABASE_URL ? 'postgresql' : 'pglite'})`, () => {
  it('the application role is not a superuser and does not bypass RLS', async () => {
    const [role] = await queryRows<{ rolsuper: boolean; rolbypassrls: boolean; current_user: string }>(
      db,
      sql`select current_user, rolsuper, rolbypassrls from pg_roles where rolname = current_user`,
    );
    expect(role).toEqual({ current_user: 'lyss_app', rolsuper: false, rolbypassrls: false });
  });

  it('every SECURITY DEFINER function pins its search_path, with pg_temp last', async () => {
    // Without pg_temp in it, pg_temp is searched first: a temporary table named like one of ours, with a
    // trigger, would run its creator's code as the function's owner.
    const rows = await queryRows<{ proname: string; proconfig: string[] | null }>(
      db,
      sql`select proname, proconfig from pg_proc where prosecdef and pronamespace = 'public'::regnamespace order by proname`,
    );
    expect(rows.map((r) => r.proname)).toEqual(
      expect.arrayContaining(['lyss_ensure_message_partitions', 'lyss_find_refresh_session', 'lyss_find_session', 'lyss_find_token', 'lyss_write_usage']),
    );
    for (const r of rows) expect([r.proname, r.proconfig]).toEqual([r.proname, ['search_path=public, pg_temp']]);
  });

  it('RLS is enabled and forced on every tenant-scoped table', async () => {
    const rows = await queryRows<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
      db,
      sql`select relname, relrowsecurity, relforcerowsecurity from pg_class where relname in ${sql.raw(`(${TENANT_TABLES.map((t) => `'${t}'`).join(',')})`)}`,
    );
    expect(rows).toHaveLength(TENANT_TABLES.length);
    for (const r of rows) expect([r.relname, r.relrowsecurity, r.relforcerowsecurity]).toEqual([r.relname, true, true]);
  });

  it.each(TENANT_TABLES)('inside tenant A, %s shows only A rows', async (table) => {
    await withTenant(db, tenants.a, async (tx) => {
      expect(await count(tx, table, sql`tenant_id = ${tenants.b}`)).toBe(0);
      expect(await count(tx, table)).toBeGreaterThan(0);
      expect(await count(tx, table, sql`tenant_id <> ${tenants.a}`)).toBe(0);
    });
    // The same rows exist: B sees its own.
    await withTenant(db, tenants.b, async (tx) => expect(await count(tx, table, sql`tenant_id = ${tenants.b}`)).toBeGreaterThan(0));
  });

  it('outside any tenant transaction nothing tenant-scoped is visible', async () => {
    for (const table of TENANT_TABLES) expect(await count(db, table)).toBe(0);
  });

  it.each(TENANT_TABLES)('inside tenant A, writing a row of tenant B into %s fails', async (table) => {
    const attempt = withTenant(db, tenants.a, async (tx) => {
      // Copy one of A's rows with B's tenant id: every other column stays valid, only the policy objects.
      const cols = (await queryRows<{ column_name: string }>(
        tx,
        sql`select column_name from information_schema.columns where table_name = ${table} and column_name not in ('id', 'tenant_id') order by ordinal_position`,
      )).map((c) => `"${c.column_name}"`);
      const list = sql.raw(cols.join(', '));
      await tx.execute(sql`insert into ${sql.identifier(table)} (tenant_id, ${list}) select ${tenants.b}::uuid, ${list} from ${sql.identifier(table)} limit 1`);
    });
    const err = await attempt.then(() => null, (e: Error & { cause?: Error }) => e);
    expect(err, 'the insert must be refused').not.toBeNull();
    expect(String(err!.cause?.message ?? err!.message)).toMatch(/row-level security/i);
  });

  it('updates and deletes inside tenant A never reach tenant B', async () => {
    await withTenant(db, tenants.a, async (tx) => {
      await tx.execute(sql`update provider_tokens set name = 'hijacked'`);
      await tx.execute(sql`delete from chat_conversation_summaries`);
    });
    await withTenant(db, tenants.b, async (tx) => {
      expect(await count(tx, 'provider_tokens', sql`name = 't'`)).toBe(1);
      expect(await count(tx, 'chat_conversation_summaries')).toBe(1);
    });
  });

  it('a deleted tenant takes every row it owns with it, and nothing of another tenant', async () => {
    const gone = randomUUID();
    await seedTenant(gone, `gone-${gone.slice(0, 8)}`);
    const countsOf = (tenant: string) => withTenant(db, tenant, async (tx) => Promise.all(TENANT_TABLES.map((table) => count(tx, table))));
    const othersBefore = await countsOf(tenants.b);
    expect((await countsOf(gone)).every((n) => n > 0)).toBe(true);
    await db.execute(sql`delete from tenant_organizations where id = ${gone}`);
    expect(await countsOf(gone)).toEqual(TENANT_TABLES.map(() => 0));
    expect(await countsOf(tenants.b)).toEqual(othersBefore);
  });
});
