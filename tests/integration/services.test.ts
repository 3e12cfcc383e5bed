/**
 * CI's second run sets LYSS_REQUIRE_SERVICES=1: then this proves the suite really ran on PostgreSQL and Redis
 * (a missing or unreachable service fails here instead of silently falling back to the embedded backends).
 */
import { describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';

const required = process.env.LYSS_REQUIRE_SERVICES === '1';

describe.runIf(required)('real services', () => {
  it('DATABASE_URL and REDIS_URL are set and the gateway runs on them', async () => {
    expect(process.env.DATABASE_URL, 'DATABASE_URL').toBeTruthy();
    expect(process.env.REDIS_URL, 'REDIS_URL').toBeTruthy();
    const gw = await startGateway();
    try {
      expect(gw.deps.database.kind).toBe('postgres');
      const ready = await fetch(`${gw.url}/readyz`);
      expect(ready.status).toBe(200);
      // The store is Redis itself: a counter it writes is visible to a plain Redis client.
      const key = `{ci-${Date.now()}}:probe`;
      await gw.deps.store.hit(key, 10_000);
      const { Redis } = await import('ioredis');
      const redis = new Redis(process.env.REDIS_URL!.split(',')[0]!);
      try {
        const keys = await redis.keys(`*${key}*`);
        expect(keys.length).toBeGreaterThan(0);
      } finally {
        redis.disconnect();
      }
    } finally {
      await gw.close();
    }
  });
});

describe.skipIf(required || !!process.env.DATABASE_URL)('embedded backends', () => {
  it('without DATABASE_URL the gateway runs on PGlite', async () => {
    const gw = await startGateway();
    try {
      expect(gw.deps.database.kind).toBe('pglite');
    } finally {
      await gw.close();
    }
  });
});
