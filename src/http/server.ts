/** Serves a Hono app on node:http and drains it on shutdown: stop accepting, let requests finish, bounded. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Hono } from 'hono';
import { errorBody } from '../errors.js';

/**
 * Serves a request straight on node:http, before Hono builds its request, context and middleware chain for
 * it; returns false when the request is not its to serve. The relay's endpoints go this way: they answer on
 * the Node response themselves, and an open stream then holds none of Hono's per-request state.
 */
export type NodeLane = (req: IncomingMessage, res: ServerResponse) => Promise<void> | false;

/** What listen() serves: the app, and the lane that takes its hottest routes first. */
export interface Served {
  app: Hono<any>;
  lane?: NodeLane;
}

export interface RunningServer {
  server: Server;
  port: number;
  /** Stops accepting, waits up to graceMs for in-flight requests, then cuts what is left. */
  drain(graceMs: number): Promise<void>;
}

/**
 * After the grace period the connections left are cut; their handlers then see the client gone, abort
 * upstream and record what was served. This bounds how long that may take before shutdown goes on.
 */
const AFTER_CUT_MS = 5_000;

/** How long a request that arrived during start-up waits for the app before a 503. */
const START_WAIT_MS = 60_000;

/**
 * `app` may still be on its way (the database starting: PGlite's first boot takes seconds). Meanwhile the
 * server listens: /healthz says the process is alive, /readyz says it is starting, and every other request
 * waits for the app (bounded) instead of being refused.
 */
export function listen(served: Served | Promise<Served>, opts: { port: number; host: string }): Promise<RunningServer> {
  let ready: Served | null = served instanceof Promise ? null : served;
  const coming = Promise.resolve(served).then((a) => (ready = a));
  coming.catch(() => {}); // a failed start ends the process; the waiting requests go with it
  const whileStarting = async (request: Request, env: HttpBindings, ctx?: Parameters<Hono<any>['fetch']>[2]): Promise<Response> => {
    const { pathname } = new URL(request.url);
    if (pathname === '/healthz') return Response.json({ status: 'ok' });
    if (pathname === '/readyz') return Response.json({ status: 'starting' }, { status: 503 });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), START_WAIT_MS)));
    const started = await Promise.race([coming, late]).finally(() => clearTimeout(timer));
    if (started) {
      const laned = started.lane?.(env.incoming, env.outgoing);
      if (!laned) return started.app.fetch(request, env, ctx);
      await laned;
      return RESPONSE_ALREADY_SENT;
    }
    return Response.json(errorBody('service_unavailable', 'The gateway is still starting; please retry shortly.'), { status: 503, headers: { 'retry-after': '5' } });
  };
  return new Promise((resolve, reject) => {
    // A request is over when its response has closed AND its handler has returned: a relay handler settles
    // the quota and queues the usage record after the last byte went out, and shutdown must wait for that.
    let responses = 0;
    let handlers = 0;
    let idle: (() => void) | null = null;
    const check = () => {
      if (responses === 0 && handlers === 0) idle?.();
    };
    const handlerDone = () => {
      handlers--;
      check();
    };
    const track = <T>(result: T): T => {
      if (result instanceof Promise) {
        handlers++;
        result.then(handlerDone, handlerDone);
      }
      return result;
    };
    const fetch: Hono<any>['fetch'] = (request, env, ctx) => track(ready ? ready.app.fetch(request, env, ctx) : whileStarting(request, env, ctx));
    // hostname: the Host a request without one (HTTP/1.0 health checks) is given.
    const viaHono = getRequestListener(fetch, { hostname: opts.host });
    const server = createServer((req, res) => {
      const laned = ready?.lane?.(req, res);
      if (laned) track(laned);
      else void viaHono(req, res);
    });
    server.once('error', reject);
    // A burst of new connections (thousands of clients opening streams at once) waits in the kernel's accept
    // queue while the event loop is busy; Node's default of 511 drops the rest, and clients see resets.
    // The kernel caps the value at net.core.somaxconn.
    server.listen({ port: opts.port, host: opts.host, backlog: 65_535 }, () => {
      resolve({ server, port: (server.address() as AddressInfo).port, drain });
    });
    // Streams can run for minutes; Node's defaults would cut slow clients and long generations.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 65_000;
    server.on('request', (_req, res) => {
      responses++;
      res.once('close', () => {
        responses--;
        check();
      });
    });

    const settledWithin = async (ms: number) => {
      if (responses === 0 && handlers === 0) return;
      await Promise.race([
        new Promise<void>((r) => (idle = r)),
        new Promise<void>((r) => setTimeout(r, ms).unref()),
      ]);
      idle = null;
    };

    async function drain(graceMs: number): Promise<void> {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      await settledWithin(graceMs);
      server.closeAllConnections();
      await settledWithin(AFTER_CUT_MS);
      await closed;
    }
  });
}
