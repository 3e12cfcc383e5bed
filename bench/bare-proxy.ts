/**
 * The floor: a bare pass-through proxy, node:http in front of one undici Pool per origin (Pool.request),
 * piping bytes unchanged both ways. No auth, no parsing, no limits, no records: what any Node gateway costs at
 * the least on this machine. Run as a child: `BARE_TARGET=http://127.0.0.1:PORT node --import tsx bench/bare-proxy.ts`;
 * it prints one JSON line `{"ready":true,"port":N}` on stdout.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, never forwarded.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function forwardable(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

export interface RunningProxy {
  port: number;
  close(): Promise<void>;
}

export async function startBareProxy(opts: { target: string; host: string; port: number }): Promise<RunningProxy> {
  const pools = new Map<string, Pool>();
  const poolFor = (origin: string) => {
    let pool = pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { keepAliveTimeout: 30_000 });
      pools.set(origin, pool);
    }
    return pool;
  };
  const origin = new URL(opts.target).origin;

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    poolFor(origin)
      .request({ method: req.method as 'POST', path: req.url ?? '/', headers: forwardable(req.headers), body: req })
      .then(
        (up) => {
          res.writeHead(up.statusCode, forwardable(up.headers));
          pipeline(up.body, res, () => {});
        },
        () => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
          res.end('{"error":{"message":"bare proxy: upstream unreachable","type":"server_error","param":null,"code":null}}');
        },
      );
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port, host: opts.host, backlog: 65_535 }, () => resolve()); // as the gateway does
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const target = process.env.BARE_TARGET;
  if (!target) {
    process.stderr.write('bare-proxy: set BARE_TARGET=http://host:port\n');
    process.exit(2);
  }
  const proxy = await startBareProxy({ target, host: '127.0.0.1', port: Number(process.env.BARE_PORT ?? 0) });
  process.stdout.write(JSON.stringify({ ready: true, port: proxy.port }) + '\n');
  const stop = () => void proxy.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
