/**
 * Turns the database's change notifications (drizzle/0004_change_notifications.sql) into cache drops.
 * Each notification names a tenant; a reconnect of the listening connection may have missed some, so it
 * drops everything.
 */
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';

export const CHANGES_CHANNEL = 'lyss_changes';

export interface Invalidatable {
  dropTenant(tenantId: string): void;
  dropAll(): void;
}

export async function listenForChanges(database: Database, caches: Invalidatable[], logger: Logger): Promise<() => Promise<void>> {
  let first = true;
  return database.listen(
    CHANGES_CHANNEL,
    (tenantId) => {
      logger.debug('cache invalidation', { tenantId });
      for (const cache of caches) cache.dropTenant(tenantId);
    },
    () => {
      if (first) {
        first = false;
        return;
      }
      logger.info('change listener reconnected; dropping caches');
      for (const cache of caches) cache.dropAll();
    },
  );
}
