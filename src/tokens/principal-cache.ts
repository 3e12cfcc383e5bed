/**
 * Token digest -> principal, in memory. A hit costs no I/O; a miss reads PostgreSQL once, and concurrent
 * misses for one digest share that read. Unknown digests are remembered briefly so a flood of bad tokens
 * does not become a flood of queries. Entries leave on a change notification for their tenant.
 */
import type { Invalidatable } from '../cache/invalidation.js';
import type { Principal } from './principal.js';

const UNKNOWN_TTL_MS = 5_000;
const UNKNOWN_MAX = 10_000;

export interface PrincipalCache extends Invalidatable {
  get(digest: string): Promise<Principal | null>;
  /** Cached entries, for tests and metrics. */
  readonly size: number;
}

export function createPrincipalCache(load: (digest: string) => Promise<Principal | null>): PrincipalCache {
  const known = new Map<string, Principal>();
  const unknown = new Map<string, number>();
  const loading = new Map<string, Promise<Principal | null>>();
  // Bumped on every drop, so a load that started before a change cannot cache what it read.
  let generation = 0;

  async function miss(digest: string): Promise<Principal | null> {
    const started = generation;
    try {
      const principal = await load(digest);
      if (started === generation) {
        if (principal) known.set(digest, principal);
        else {
          if (unknown.size >= UNKNOWN_MAX) unknown.clear();
          unknown.set(digest, Date.now() + UNKNOWN_TTL_MS);
        }
      }
      return principal;
    } finally {
      loading.delete(digest);
    }
  }

  return {
    get(digest) {
      const hit = known.get(digest);
      if (hit) return Promise.resolve(hit);
      const until = unknown.get(digest);
      if (until !== undefined) {
        if (until > Date.now()) return Promise.resolve(null);
        unknown.delete(digest);
      }
      let pending = loading.get(digest);
      if (!pending) {
        pending = miss(digest);
        loading.set(digest, pending);
      }
      return pending;
    },
    dropTenant(tenantId) {
      generation++;
      for (const [digest, p] of known) if (p.tenantId === tenantId) known.delete(digest);
      // A new token of this tenant may be one we remembered as unknown.
      unknown.clear();
    },
    dropAll() {
      generation++;
      known.clear();
      unknown.clear();
    },
    get size() {
      return known.size;
    },
  };
}
