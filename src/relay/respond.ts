/** Writing answers straight to the Node response (the fast path), with the headers every answer carries. */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { collect } from '../http/body.js';

export function baseHeaders(requestId: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return { 'x-request-id': requestId, ...extra };
}

export function sendJsonText(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The largest whole (non-stream) upstream answer the gateway reads before sending it on. */
export const MAX_UPSTREAM_JSON = 64 * 1024 * 1024;

/** Reads a whole upstream body (capped), for answers the gateway must read before sending. */
export async function readBody(body: Readable, limit: number): Promise<string> {
  const whole = await collect(body, limit, () => {
    body.destroy();
    return new Error(`upstream answer larger than ${limit} bytes`);
  });
  return whole.toString('utf8');
}

/** Writes and, under backpressure, waits for the socket to drain or close (a gone client must not hang us). */
export async function writeWithBackpressure(res: ServerResponse, data: string | Buffer): Promise<void> {
  if (res.destroyed) return;
  if (res.write(data)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
