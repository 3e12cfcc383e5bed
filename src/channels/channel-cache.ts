/** Each tenant's channel table in memory, loaded on first use and dropped by change notifications. */
import type { Invalidatable } from '../cache/invalidation.js';
import type { Channel } from './channel.js';

export interface ChannelCache extends Invalidatable {
  forTenant(tenantId: string): Promise<readonly Channel[]>;
}

export function createChannelCache(load: (tenantId: string) => Promise<Channel[]>): ChannelCache {
  const tenants = new Map<string, Promise<Channel[]>>();
  return {
    forTenant(tenantId) {
      let entry = tenants.get(tenantId);
      if (!entry) {
        entry = load(tenantId);
        tenants.set(tenantId, entry);
        // A failed load is not cached: the next request tries again.
        entry.catch(() => {
          if (tenants.get(tenantId) === entry) tenants.delete(tenantId);
        });
      }
      return entry;
    },
    dropTenant(tenantId) {
      tenants.delete(tenantId);
    },
    dropAll() {
      tenants.clear();
    },
  };
}
