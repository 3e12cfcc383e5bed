/** Keeps chat_messages partitions ahead of time: the current and next month always exist. */
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { queryRows } from './client.js';

/** Creates missing partitions for the month of `now` and the `monthsAhead` after it; returns how many it made. */
export async function ensureMessagePartitions(db: Db, now = new Date(), monthsAhead = 1): Promise<number> {
  const [row] = await queryRows<{ created: number }>(
    db,
    sql`select lyss_ensure_message_partitions(${now.toISOString()}::timestamptz, ${monthsAhead + 1}) as created`,
  );
  return Number(row?.created ?? 0);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Runs ensureMessagePartitions daily; the timer never keeps the process alive. */
export function schedulePartitionMaintenance(db: Db, onError: (err: unknown) => void): () => void {
  const timer = setInterval(() => ensureMessagePartitions(db).catch(onError), DAY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
