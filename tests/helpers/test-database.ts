/**
 * A fresh, migrated database for one test file: in-memory PGlite by default, or, when DATABASE_URL is set,
 * a new PostgreSQL database created on that server (and dropped by cleanup) so files never share state.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase, type Database } from '../../src/db/client.js';

export interface FreshDatabase {
  database: Database;
  /** The new database's URL on PostgreSQL; undefined on PGlite. */
  url?: string;
  cleanup(): Promise<void>;
}

/** Runs one statement on the server's maintenance connection (create/drop database cannot run in a pool transaction). */
async function onServer(serverUrl: string, statement: string): Promise<void> {
  const client = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await client.unsafe(statement);
  } finally {
    await client.end({ timeout: 5 });
  }
}

export async function freshDatabase(opts: { poolSize?: number } = {}): Promise<FreshDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const database = await openDatabase({ dataDir: 'memory://' });
    return { database, cleanup: () => database.close() };
  }
  const name = `lyss_test_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let database: Database;
  try {
    database = await openDatabase({ url: url.toString(), poolSize: opts.poolSize ?? 5 });
  } catch (err) {
    await onServer(serverUrl, `drop database if exists ${name} with (force)`);
    throw err;
  }
  return {
    database,
    url: url.toString(),
    async cleanup() {
      await database.close();
      await onServer(serverUrl, `drop database if exists ${name} with (force)`);
    },
  };
}
