/** Reading whole bodies (a client's JSON request, an upstream's answer) with a byte limit enforced as they arrive. */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';

/**
 * Collects a stream whole, at most `limit` bytes; past that `tooLarge()` is thrown and the caller decides what
 * becomes of the rest (a client's request is drained so its error can be answered; an upstream's is cut).
 * Listens to events rather than `for await`: the async iterator allocates per chunk and per call, and this
 * runs twice on every request.
 */
export function collect(stream: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> {
  if (stream.readableEnded) return Promise.resolve(Buffer.alloc(0));
  if (stream.destroyed) return Promise.reject(stream.errored ?? new Error('the stream closed before its end'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      // An error after we are done (the caller destroying the rest) must not become an uncaught exception.
      stream.on('error', ignore);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the stream closed before its end'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

function ignore(): void {}

/** Reads a JSON request body straight from the Node request. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  const body = await collect(req, limit, () => {
    // Read and drop the rest, so the 413 can be answered on this connection.
    req.resume();
    return tooLarge(limit);
  });
  if (body.length === 0) throw new GatewayError('invalid_json', 'We could not parse the JSON body of your request: the body is empty.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError(
      'invalid_json',
      'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. This API expects a JSON payload.)',
    );
  }
  // Each level takes two bytes at least ({ and }): a short body cannot be too deep.
  if (body.length > 2 * MAX_DEPTH && deeperThan(parsed, MAX_DEPTH)) throw new GatewayError('invalid_request_error', `The request body is nested too deeply (more than ${MAX_DEPTH} levels).`);
  return parsed;
}

/**
 * JSON.parse takes any depth, but what walks the value afterwards (JSON.stringify, the token count) recurses and
 * overflows the stack some thousands of levels down. Real schemas nest a few dozen levels.
 */
const MAX_DEPTH = 256;

/** Iterative, and visits objects and arrays only: a long prompt is one string, so this costs per node, not per byte. */
function deeperThan(root: unknown, max: number): boolean {
  if (root === null || typeof root !== 'object') return false;
  const stack: [object, number][] = [[root, 1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [node, depth] = item;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError('request_too_large', `Request body exceeds the limit of ${limit} bytes.`);
}
