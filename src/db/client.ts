/**
 * One drizzle database over postgres.js (DATABASE_URL) or PGlite (embedded, LYSS_DATA_DIR).
 * Migrations run first, as the connecting user; every later query runs as lyss_app, which Row Level
 * Security always applies to.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { sql, type SQL } from 'drizzle-orm';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema/index.js';
import { lockDataDir } from './data-dir-lock.js';
import { StartupError } from '../startup-error.js';

export type Schema = typeof schema;
/** The database, or a transaction on it: queries take either. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface Database {
  db: Db;
  /**
   * Where the usage writer sends its batches. On PostgreSQL a connection of its own: the batch function and
   * its plans stay warm on it, and a batch is one prepared statement, one round trip (through the pool it
   * needed a transaction to land on a warm connection). On PGlite, the one database.
   */
  usageWriter: Db;
  kind: 'postgres' | 'pglite';
  /** Throws when the database cannot answer (readiness). */
  ping(): Promise<void>;
  /**
   * LISTENs on `channel`. `onListen` runs each time the listening connection is (re)established: after a
   * reconnect, notifications may have been missed, so callers drop what they cached.
   */
  listen(channel: string, onMessage: (payload: string) => void, onListen?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export const APP_ROLE = 'lyss_app';

/** drizzle/ beside package.json, found from this module whether it runs from src/ or the dist/ bundle. */
function migrationsFolder(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'drizzle');
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('drizzle/ migrations folder not found');
    dir = parent;
  }
}

export interface DatabaseOptions {
  /** postgres:// URL; absent means PGlite. */
  url?: string;
  /** PGlite data folder; 'memory://' for an in-memory database. */
  dataDir?: string;
  /** postgres.js pool size. */
  poolSize?: number;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts.poolSize ?? 10) : openPglite(opts.dataDir ?? './data');
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  await migrateOnPostgres(url);
  const connect = (max: number, name: string, extra: postgres.Options<Record<string, postgres.PostgresType>> = {}) =>
    postgres(url, { max, onnotice: () => {}, connection: { application_name: name, options: `-c role=${APP_ROLE}` }, ...extra });
  const client = connect(poolSize, 'lyss');
  // postgres.js waits longer after each failed reconnect, up to 20 s; a pool has other connections to try
  // sooner, the writer's one connection does not, and after a 10 s outage it sat idle for up to 20 s while
  // the usage queue waited (tests/faults/postgres-outage). The writer retries every LYSS_USAGE_FLUSH_MS
  // anyway: at most ~1 s between its reconnects.
  const writerClient = connect(1, 'lyss-usage', { backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2) });
  const db = drizzlePostgres(client, { schema }) as unknown as Db;
  return {
    db,
    usageWriter: drizzlePostgres(writerClient, { schema }) as unknown as Db,
    kind: 'postgres',
    ping: async () => {
      await client`select 1`;
    },
    listen: async (channel, onMessage, onListen) => {
      const sub = await client.listen(channel, onMessage, onListen);
      return () => sub.unlisten();
    },
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), writerClient.end({ timeout: 5 })]);
    },
  };
}

/** The first connection failed: which database, in the operator's words, without its password. */
function unreachable(url: string, err: unknown): StartupError {
  const u = new URL(url);
  const where = `${u.hostname}:${u.port || 5432}${u.pathname}`;
  return new StartupError(`cannot connect to the PostgreSQL database of DATABASE_URL (${where}): ${err instanceof Error ? err.message : String(err)}`);
}

/** Runs pending migrations under an advisory lock, so instances starting together migrate once. */
export async function migrateOnPostgres(url: string): Promise<void> {
  // One connection, so the session-level advisory lock covers the migrator's queries.
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`select pg_advisory_lock(hashtext('lyss:migrations'))`.catch((err: unknown) => {
      throw unreachable(url, err);
    });
    await migratePostgres(drizzlePostgres(client), { migrationsFolder: migrationsFolder() });
    await client`select pg_advisory_unlock(hashtext('lyss:migrations'))`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

async function openPglite(dataDir: string): Promise<Database> {
  // Loaded only here: a gateway on PostgreSQL never pays for the embedded database's code.
  const [{ PGlite }, { pg_trgm }, { btree_gin }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/pg_trgm'),
    import('@electric-sql/pglite/contrib/btree_gin'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  let unlock = () => {};
  if (!dataDir.includes('://')) {
    mkdirSync(dataDir, { recursive: true });
    unlock = lockDataDir(dataDir);
  }
  let client: InstanceType<typeof PGlite>;
  try {
    client = await PGlite.create(dataDir, { extensions: { pg_trgm, btree_gin } });
    await migratePglite(drizzlePglite(client), { migrationsFolder: migrationsFolder() });
    // PGlite has one session and its user is a superuser: drop to the application role for everything after.
    await client.exec(`SET ROLE ${APP_ROLE}`);
  } catch (err) {
    unlock();
    throw err;
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    usageWriter: db,
    kind: 'pglite',
    ping: async () => {
      await client.query('select 1');
    },
    listen: async (channel, onMessage, onListen) => {
      const unlisten = await client.listen(channel, onMessage);
      onListen?.();
      return unlisten;
    },
    close: async () => {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  };
}

/**
 * The postgres.js client behind a drizzle database on PostgreSQL (null for PGlite or a transaction): for a
 * statement drizzle can only send unprepared, which postgres.js describes before every run (a second round
 * trip, and a second wake-up of PostgreSQL and of the gateway). It carries drizzle's serializers (json text
 * passes as is).
 */
export function postgresClientOf(db: Db): postgres.Sql | null {
  const client = (db as { $client?: unknown }).$client;
  return typeof client === 'function' && typeof (client as Partial<postgres.Sql>).unsafe === 'function' ? (client as postgres.Sql) : null;
}

/** Rows of a raw query, whichever driver ran it (postgres.js returns an array, PGlite `{ rows }`). */
export async function queryRows<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

export { sql };
