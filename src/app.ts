/** The HTTP surface: health, the OpenAI-compatible relay under /v1 and the admin API under /api. */
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { errorBody, refusalOf } from './errors.js';
import type { Served } from './http/server.js';
import type { Deps } from './deps.js';
import { requestId } from './http/request-id.js';
import { relayLane, relayRoutes } from './relay/routes.js';
import { corsLane } from './http/cors.js';
import { adminRoutes } from './admin/routes.js';
import type { StoreFailureStats } from './store/resilient-store.js';
import { withTimeout } from './with-timeout.js';

export interface AppEnv {
  Bindings: HttpBindings;
  Variables: { requestId: string };
}

/** The app, and the lane the relay's POST endpoints (and /v1's CORS) take ahead of it (see NodeLane). */
export function createApp(deps: Deps): Served {
  const app = new Hono<AppEnv>();
  app.use('*', requestId());

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks = await Promise.all([
      check('database', () => deps.database.ping()),
      check('store', () => deps.store.ping()),
    ]);
    const failing = checks.filter((r) => !r.ok);
    const body = {
      status: failing.length ? 'unavailable' : 'ready',
      checks: Object.fromEntries(checks.map((r) => [r.name, r.ok ? 'ok' : r.reason])),
      counters: counters(deps),
    };
    return c.json(body, failing.length ? 503 : 200);
  });

  app.route('/v1', relayRoutes(deps.relay));
  app.route('/api', adminRoutes(deps));

  app.notFound((c) => c.json(errorBody('not_found', `Unknown path: ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    const refusal = refusalOf(err);
    if (refusal) {
      if (refusal.retryAfter) c.header('Retry-After', refusal.retryAfter);
      return c.json(refusal.body, refusal.status as 400);
    }
    deps.logger.error('unhandled error', { err, requestId: c.get('requestId'), path: c.req.path });
    return c.json(errorBody('internal_error', 'The gateway failed to handle this request.'), 500);
  });
  return { app, lane: corsLane(deps.config.LYSS_CORS_ORIGINS, relayLane(deps.relay)) };
}

/** What an operator wants to see while something is down: the usage backlog and the store's failures. */
function counters(deps: Deps): Record<string, number> {
  const usage = deps.relay.usage;
  const failures = (deps.store as Partial<{ failureStats: StoreFailureStats }>).failureStats;
  return {
    usagePending: usage.pending,
    usageWritten: usage.written,
    storeFailures: failures?.failures ?? 0,
    storeFailOpenAdmits: failures?.failOpenAdmits ?? 0,
    storeFailClosedRefusals: failures?.failClosedRefusals ?? 0,
    storeRecoveries: failures?.recoveries ?? 0,
    storeReplayPending: failures?.replayPending ?? 0,
  };
}

async function check(name: string, probe: () => Promise<void>): Promise<{ name: string; ok: true } | { name: string; ok: false; reason: string }> {
  try {
    await withTimeout(probe(), 2000, 'no answer within 2000 ms');
    return { name, ok: true };
  } catch (err) {
    return { name, ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}
