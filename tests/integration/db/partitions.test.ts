/** chat_messages is partitioned by month, and the partitions the relay needs always exist. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../../src/db/client.js';
import { withTenant } from '../../../src/db/tenant.js';
import { ensureMessagePartitions } from '../../../src/db/partitions.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/test-database.js';

let fresh: FreshDatabase;
let db: Db;
const tenant = randomUUID();
const conversation = randomUUID();

function monthStart(offset: number, from = new Date()): Date {
  return new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + offset, 1));
}
const partitionName = (d: Date) => `chat_messages_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`;

async function insertMessage(at: Date): Promise<string> {
  return withTenant(db, tenant, async (tx) => {
    const [row] = await queryRows<{ part: string }>(
      tx,
      sql`insert into chat_messages (tenant_id, conversation_id, role, content, created_at)
          values (${tenant}, ${conversation}, 'user', 'hi', ${at.toISOString()}::timestamptz)
          returning tableoid::regclass::text as part`,
    );
    return row!.part;
  });
}

beforeAll(async () => {
  fresh = await freshDatabase();
  db = fresh.database.db;
  await db.execute(sql`insert into tenant_organizations (id, name, slug) values (${tenant}, 'p', ${`p-${tenant.slice(0, 8)}`})`);
  await withTenant(db, tenant, async (tx) => {
    const user = randomUUID();
    await tx.execute(sql`insert into auth_users (id, tenant_id, email, hashed_password) values (${user}, ${tenant}, 'p@p.test', 'x')`);
    await tx.execute(sql`insert into chat_conversations (id, tenant_id, user_id, title) values (${conversation}, ${tenant}, ${user}, 't')`);
  });
});
afterAll(() => fresh?.cleanup());

describe('chat_messages partitions', () => {
  it('is a range-partitioned table', async () => {
    const [row] = await queryRows<{ strategy: string }>(db, sql`select partstrat as strategy from pg_partitioned_table where partrelid = 'chat_messages'::regclass`);
    expect(row?.strategy).toBe('r');
  });

  it('the current and next month exist after migration and start', async () => {
    await ensureMessagePartitions(db);
    expect(await insertMessage(new Date())).toBe(partitionName(monthStart(0)));
    const nextMonth = new Date(monthStart(1).getTime() + 3 * 86_400_000);
    expect(await insertMessage(nextMonth)).toBe(partitionName(monthStart(1)));
  });

  it('rows land in their month even at the boundaries (UTC)', async () => {
    const start = monthStart(1);
    expect(await insertMessage(start)).toBe(partitionName(start));
    expect(await insertMessage(new Date(start.getTime() - 1))).toBe(partitionName(monthStart(0)));
  });

  it('a month without a partition refuses the insert, and ensureMessagePartitions creates it once', async () => {
    const later = monthStart(5);
    await expect(insertMessage(later)).rejects.toThrow();
    expect(await ensureMessagePartitions(db, later, 1)).toBe(2);
    expect(await ensureMessagePartitions(db, later, 1)).toBe(0);
    expect(await insertMessage(later)).toBe(partitionName(later));
  });

  it('a new partition inherits row level security through the parent', async () => {
    await withTenant(db, randomUUID(), async (tx) => {
      const [row] = await queryRows<{ n: string | number }>(tx, sql`select count(*) as n from chat_messages`);
      expect(Number(row!.n)).toBe(0);
    });
  });
});
