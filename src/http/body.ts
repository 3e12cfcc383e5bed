/** Reads a JSON request body straight from the Node request, enforcing the size limit as bytes arrive. */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  if (size === 0) throw new GatewayError('invalid_json', 'We could not parse the JSON body of your request: the body is empty.');
  const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError(
      'invalid_json',
      'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload.)',
    );
  }
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError('request_too_large', `Request body exceeds the limit of ${limit} bytes.`);
}
