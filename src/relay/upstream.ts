/**
 * The shared upstream connection pool (undici, keep-alive, per origin) and how its failures are classified.
 * Timeouts: connect, first byte (headers) and idle between body chunks; none caps a stream's total length,
 * so a ten-minute reasoning stream is never cut while it keeps sending.
 */
import { Agent, errors, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { ClientAbort } from './client-abort.js';

export interface UpstreamCall {
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  method?: 'POST' | 'GET' | 'DELETE';
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & AsyncIterable<Buffer>;
}

export type TransportFailure = { kind: 'timeout' | 'connection'; message: string };

export interface UpstreamPool {
  /** `signal`: an AbortSignal or an emitter of 'abort' with an `aborted` flag (see ClientAbort). */
  send(call: UpstreamCall, signal: AbortSignal | ClientAbort): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export function createUpstreamPool(opts: { connectTimeoutMs: number; firstByteTimeoutMs: number; idleTimeoutMs: number }): UpstreamPool {
  const agent = new Agent({
    connect: { timeout: opts.connectTimeoutMs },
    headersTimeout: opts.firstByteTimeoutMs,
    bodyTimeout: opts.idleTimeoutMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    // No cap per origin: every OpenAI channel shares api.openai.com, and each open stream holds a connection.
    connections: null,
  });
  return {
    async send(call, signal) {
      const res = await agent.request({
        origin: call.origin,
        path: call.path,
        method: call.method ?? 'POST',
        headers: call.headers,
        body: call.method === undefined || call.method === 'POST' ? call.body : undefined,
        signal,
      } as Dispatcher.RequestOptions);
      return { status: res.statusCode, headers: res.headers, body: res.body as unknown as UpstreamResponse['body'] };
    },
    close: () => agent.close(),
  };
}

/** What went wrong talking to upstream, in words safe for a client; null for an abort we asked for. */
export function classifyTransportError(err: unknown): TransportFailure {
  if (err instanceof errors.ConnectTimeoutError || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return { kind: 'timeout', message: (err as Error).message };
  }
  return { kind: 'connection', message: err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}` : String(err) };
}

/** Reads at most `limit` bytes of an upstream error body, for the log. */
export async function readCapped(body: AsyncIterable<Buffer>, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < limit) chunks.push(chunk.subarray(0, limit - size));
    size += chunk.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Joins a base URL and an API path into undici's origin + path. */
export function splitUrl(base: string, apiPath: string): { origin: string; path: string } {
  const url = new URL(base);
  const prefix = url.pathname.replace(/\/+$/, '');
  return { origin: url.origin, path: `${prefix}${apiPath}${url.search}` };
}
