/**
 * The real services the fault tests run against: a fresh PostgreSQL database per test file (dropped after) on
 * the server named by DATABASE_URL, and the Redis named by REDIS_URL (each test's keys carry its own tenant
 * ids as hash tags, so tests never share counters). Queries here run as the connecting superuser, which
 * bypasses Row Level Security: the tests read what really landed, across tenants.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { Redis, type Cluster } from 'ioredis';

export const SERVER_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').split(',')[0]!.trim();

export type Sql = postgres.Sql;

export interface FaultDatabase {
  /** The new database's URL (the gateway migrates it at start). */
  url: string;
  name: string;
  /** A superuser connection to it. */
  sql: Sql;
  drop(): Promise<void>;
}

/** Creates an empty database; the gateway under test migrates it. */
export async function createDatabase(): Promise<FaultDatabase> {
  const name = `lyss_fault_${randomBytes(6).toString('hex')}`;
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {} });
  return {
    url: url.toString(),
    name,
    sql,
    async drop() {
      await sql.end({ timeout: 5 }).catch(() => {});
      const a = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end({ timeout: 5 });
      }
    },
  };
}

/** Throws with a clear message when PostgreSQL or Redis is not reachable. */
export async function assertServices(): Promise<void> {
  const pg = postgres(SERVER_URL, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    await pg`select 1`;
  } catch (err) {
    throw new Error(`fault tests need PostgreSQL at ${SERVER_URL} (set DATABASE_URL): ${String(err)}`);
  } finally {
    await pg.end({ timeout: 1 }).catch(() => {});
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`fault tests need Redis at ${REDIS_URL} (set REDIS_URL): ${String(err)}`);
  } finally {
    redis.disconnect();
  }
}

/** The tenant's and token's ids, by slug and token name. */
export async function ids(sql: Sql, slug: string, tokenName: string): Promise<{ tenantId: string; tokenId: string }> {
  const [row] = await sql<{ tenant_id: string; token_id: string }[]>`
    select t.id as tenant_id, k.id as token_id from tenant_organizations t join provider_tokens k on k.tenant_id = t.id
    where t.slug = ${slug} and k.name = ${tokenName}`;
  if (!row) throw new Error(`no token ${tokenName} in ${slug}`);
  return { tenantId: row.tenant_id, tokenId: row.token_id };
}

export async function tokenUsedQuota(sql: Sql, tokenId: string): Promise<number> {
  const [row] = await sql<{ used: string }[]>`select used_quota::text as used from provider_tokens where id = ${tokenId}`;
  return Number(row!.used);
}

export async function assistantRows(sql: Sql, tenantId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from chat_messages where tenant_id = ${tenantId} and role = 'assistant'`;
  return row!.n;
}

/** Connections of the gateway (application_name lyss, lyss-usage) still open on the database. */
export async function gatewayBackends(db: FaultDatabase): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = ${db.name} and application_name like 'lyss%'`;
  return row!.n;
}

/**
 * Waits until a killed gateway's connections are gone. Its backends run to the end of the statement they
 * were given and only then find their client dead: a usage batch sent just before a kill -9 still commits,
 * after the process has exited.
 */
export async function gatewayBackendsGone(db: FaultDatabase, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    const n = await gatewayBackends(db);
    if (n > 0) throw new Error(`${n} connections of the killed gateway are still open`);
  }, timeoutMs, 20);
}

/** The Redis side of a quota counter: settled spend, running reservation total, live reservation ids. */
export interface QuotaHash {
  used: number | null;
  reserved: number;
  reservations: number;
}

export async function readQuota(redis: Redis | Cluster, key: string): Promise<QuotaHash> {
  const [hash, live] = await Promise.all([redis.hgetall(key), redis.hlen(`${key}:r`)]);
  return { used: hash.used === undefined ? null : Number(hash.used), reserved: Number(hash.reserved ?? 0), reservations: live };
}

export const tokenQuotaKey = (tenantId: string, tokenId: string) => `{${tenantId}}:q:t:${tokenId}`;

/** Deletes every key tagged with this tenant (as a Redis restart without persistence would lose them). */
export async function deleteTenantKeys(redis: Redis, tenantId: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${tenantId}}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) n += await redis.del(key);
  } while (cursor !== '0');
  return n;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it stops throwing, or throws its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(everyMs);
    }
  }
}
