/**
 * An OpenAI-format upstream for answers too large to hold in memory, written chunk by chunk with backpressure
 * (so a slow reader at the far end of the gateway stalls it), and for a JSON body that stops mid-way. The
 * model name picks the answer: `huge-json` (a chat.completion of HUGE_JSON_BYTES), `big-json` (BIG_JSON_BYTES),
 * `huge-stream` (SSE of HUGE_STREAM_BYTES, then usage and [DONE]), `endless-stream` (the same, of ENDLESS_STREAM_BYTES), `stall-body` (half a JSON body, then silence).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const HUGE_JSON_BYTES = 70 * 1024 * 1024;
export const BIG_JSON_BYTES = 3 * 1024 * 1024;
export const HUGE_STREAM_BYTES = 8 * 1024 * 1024;
export const STREAM_FRAME_CHARS = 4096;
/** `endless-stream`: more than any reader takes in a test; only backpressure keeps it from being written. */
export const ENDLESS_STREAM_BYTES = 512 * 1024 * 1024;

export interface BulkRequest {
  model: string;
  stream: boolean;
  bytesWritten: number;
  receivedAt: number;
  closedAt: number | null;
  finished: boolean;
}

export interface BulkUpstream {
  url: string;
  requests: BulkRequest[];
  connections(): number;
  close(): Promise<void>;
}

export async function startBulkUpstream(usage = { prompt: 10, completion: 5 }): Promise<BulkUpstream> {
  const requests: BulkRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; stream?: boolean };
    const r: BulkRequest = { model: body.model, stream: body.stream === true, bytesWritten: 0, receivedAt: Date.now(), closedAt: null, finished: false };
    requests.push(r);
    res.on('close', () => (r.closedAt = Date.now()));
    res.on('finish', () => (r.finished = true));
    const write = async (data: string) => {
      if (res.destroyed) throw new Error('gone');
      r.bytesWritten += Buffer.byteLength(data);
      if (!res.write(data)) await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    };
    const usageJson = { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion };
    try {
      if (body.model === 'huge-json' || body.model === 'big-json' || body.model === 'stall-body') {
        const total = body.model === 'huge-json' ? HUGE_JSON_BYTES : BIG_JSON_BYTES;
        res.writeHead(200, { 'content-type': 'application/json' });
        await write(`{"id":"chatcmpl-bulk","object":"chat.completion","created":1700000000,"model":"${body.model}","choices":[{"index":0,"message":{"role":"assistant","content":"`);
        const piece = 'a'.repeat(64 * 1024);
        const pieces = body.model === 'stall-body' ? 2 : Math.ceil(total / piece.length);
        for (let i = 0; i < pieces; i++) await write(piece);
        if (body.model === 'stall-body') {
          await new Promise((resolve) => res.once('close', resolve));
          return;
        }
        res.end(`"},"finish_reason":"stop"}],"usage":${JSON.stringify(usageJson)}}`);
        return;
      }
      if (body.model === 'huge-stream' || body.model === 'endless-stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const base = { id: 'chatcmpl-bulk', object: 'chat.completion.chunk', created: 1700000000, model: body.model };
        const frame = `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: 'b'.repeat(STREAM_FRAME_CHARS) }, finish_reason: null }] })}\n\n`;
        const frames = Math.ceil((body.model === 'huge-stream' ? HUGE_STREAM_BYTES : ENDLESS_STREAM_BYTES) / frame.length);
        for (let i = 0; i < frames; i++) await write(frame);
        await write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'length' }] })}\n\n`);
        await write(`data: ${JSON.stringify({ ...base, choices: [], usage: usageJson })}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no bulk model ${body.model}`, type: 'invalid_request_error', param: null, code: null } }));
    } catch {
      res.destroy();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    connections: () => sockets.size,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
