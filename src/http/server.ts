/** Serves a Hono app on node:http and drains it on shutdown: stop accepting, let requests finish, bounded. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface RunningServer {
  server: Server;
  port: number;
  /** Stops accepting, waits up to graceMs for in-flight requests, then cuts what is left. */
  drain(graceMs: number): Promise<void>;
}

export function listen(app: Hono<any>, opts: { port: number; host: string }): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let inFlight = 0;
    let idle: (() => void) | null = null;
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, (info: AddressInfo) => {
      resolve({ server, port: info.port, drain });
    }) as Server;
    server.once('error', reject);
    // Streams can run for minutes; Node's defaults would cut slow clients and long generations.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 65_000;
    server.on('request', (_req, res) => {
      inFlight++;
      res.once('close', () => {
        inFlight--;
        if (inFlight === 0) idle?.();
      });
    });

    async function drain(graceMs: number): Promise<void> {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((r) => (idle = r)),
          new Promise<void>((r) => setTimeout(r, graceMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
    }
  });
}
