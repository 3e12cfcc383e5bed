/**
 * A fake OpenAI-format upstream on a real socket. It answers chat completions (JSON and SSE, in OpenAI's exact
 * wire format), legacy completions and embeddings, records every request it receives (with when it arrived,
 * when the answer finished and when the connection went away), and can be scripted per request to fail: an
 * HTTP status, a reset before headers, a stall, a stream cut after N chunks, slow chunks.
 *
 * Several channels can share one mock: give each a base URL with its own path prefix
 * (`${mock.url}/a`, `${mock.url}/b`) and tell them apart with `channelOf(request)`. As OpenAI does per account,
 * each prefix keeps the Responses it stored: only it can continue, get or delete them.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { responsesBody, responsesEvents, responsesSseFrame, type ResponsesFixture } from './responses-wire.js';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
  receivedAt: number;
  /** When the mock wrote the last byte of its answer; null while answering or when it never finished. */
  finishedAt: number | null;
  /** When the response closed (answer done, or the gateway went away); null while open. */
  closedAt: number | null;
  /** SSE data frames written so far. */
  framesSent: number;
}

export interface Usage {
  prompt: number;
  completion: number;
}

export type Behavior =
  | {
      kind: 'reply';
      content?: string;
      toolCalls?: { name: string; arguments: string }[];
      /** DeepSeek-reasoner style: `reasoning_content` in the message, or streamed in deltas before the content. */
      reasoning?: string;
      /** Reported usage; completion is capped at the request's max_tokens / max_completion_tokens, as a real model stops there. */
      usage?: Usage | null;
      finishReason?: string;
      chunkDelayMs?: number;
      chunks?: number;
      /** Waits this long before the status line (a slow first byte). */
      headersDelayMs?: number;
    }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'reset' }
  | { kind: 'stall'; ms: number }
  /** A stream that stops after `afterChunks` frames: the connection drops, or (`hang`) stays open, silent. */
  | { kind: 'cut'; afterChunks: number; content?: string; chunks?: number; hang?: boolean }
  /** Exactly this answer; with `cutAfterBytes`, only that much of the body, then the connection drops. */
  | { kind: 'raw'; status?: number; contentType: string; body: string; cutAfterBytes?: number }
  /** An SSE answer of exactly these `data:` payloads, each written on its own after `delayMs`, then the end. */
  | { kind: 'events'; data: string[]; delayMs?: number };

export interface MockUpstream {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Scripts answers: return a Behavior for a request, or undefined for the default reply. */
  script(fn: ((req: ReceivedRequest) => Behavior | undefined) | null): void;
  /** Forgets recorded requests and the script. */
  reset(): void;
  /** Open upstream connections, for leak checks. */
  connections(): number;
  close(): Promise<void>;
}

export const DEFAULT_REPLY = 'Hello from the mock upstream.';
export const DEFAULT_USAGE: Usage = { prompt: 12, completion: 7 };
export const MOCK_SECRET = 'sk-mocksecret123456';

/** The first path segment: the channel prefix when channels share the mock (`/a/v1/chat/completions` -> 'a'). */
export function channelOf(req: ReceivedRequest): string {
  return req.path.split('/')[1] ?? '';
}

export async function startMockUpstream(): Promise<MockUpstream> {
  const requests: ReceivedRequest[] = [];
  let scripted: ((req: ReceivedRequest) => Behavior | undefined) | null = null;
  const sockets = new Set<import('node:net').Socket>();
  const stored: StoredResponses = new Map();

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const received: ReceivedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body,
      receivedAt: Date.now(),
      finishedAt: null,
      closedAt: null,
      framesSent: 0,
    };
    requests.push(received);
    res.on('finish', () => (received.finishedAt = Date.now()));
    res.on('close', () => (received.closedAt = Date.now()));
    const behavior = scripted?.(received) ?? { kind: 'reply' };
    await answer(received, behavior, res, stored).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    script: (fn) => {
      scripted = fn;
    },
    reset: () => {
      requests.length = 0;
      scripted = null;
    },
    connections: () => sockets.size,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the mock reports: a real model stops at max_tokens, so completion tokens never exceed it. */
function reportedUsage(req: ReceivedRequest, u: Usage): Usage {
  const cap = req.body?.max_completion_tokens ?? req.body?.max_tokens;
  return { prompt: u.prompt, completion: typeof cap === 'number' ? Math.min(u.completion, cap) : u.completion };
}

/** Stored Responses by id: the channel prefix that made each, the object and its input. */
let responseSeq = 0;
type StoredResponses = Map<string, { channel: string; body: Record<string, unknown>; input: unknown }>;

async function answer(req: ReceivedRequest, b: Behavior, res: ServerResponse, stored: StoredResponses): Promise<void> {
  if (b.kind === 'reset') {
    res.socket?.destroy();
    return;
  }
  if (b.kind === 'stall') {
    await sleep(b.ms);
    res.socket?.destroy();
    return;
  }
  if (b.kind === 'status') {
    const body = b.body ?? { error: { message: `mock failure ${b.status} (secret upstream detail ${MOCK_SECRET})`, type: 'server_error', param: null, code: null } };
    res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
    return;
  }
  if (b.kind === 'raw') {
    if (b.cutAfterBytes !== undefined) {
      res.writeHead(b.status ?? 200, { 'content-type': b.contentType, 'content-length': Buffer.byteLength(b.body) });
      res.write(Buffer.from(b.body).subarray(0, b.cutAfterBytes));
      await sleep(30);
      res.socket?.destroy();
      return;
    }
    res.writeHead(b.status ?? 200, { 'content-type': b.contentType });
    res.end(b.body);
    return;
  }
  if (b.kind === 'events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const d of b.data) {
      if (res.destroyed) return;
      res.write(`data: ${d}\n\n`);
      req.framesSent++;
      await sleep(b.delayMs ?? 20);
    }
    res.end();
    return;
  }
  if (b.kind === 'reply' && b.headersDelayMs) {
    await sleep(b.headersDelayMs);
    if (res.destroyed) return;
  }
  if (/\/responses\/[^/?]+/.test(req.path)) return storedResponse(req, res, stored);
  if (req.path.includes('/embeddings')) return embeddings(req, res);
  const legacy = req.path.endsWith('/completions') && !req.path.endsWith('/chat/completions');
  const reply: Extract<Behavior, { kind: 'reply' }> = b.kind === 'reply' ? b : { kind: 'reply', content: b.content, chunks: b.chunks };
  if (req.path.endsWith('/responses')) return responses(req, res, reply, b.kind === 'cut' ? b : null, stored);
  if (req.body?.stream) return stream(req, res, reply, b.kind === 'cut' ? b : null, legacy);
  const usage = reply.usage === null ? undefined : usageOf(reportedUsage(req, reply.usage ?? DEFAULT_USAGE));
  const content = reply.content ?? DEFAULT_REPLY;
  const json = legacy
    ? { id: 'cmpl-mock', object: 'text_completion', created: 1700000000, model: req.body.model, choices: [{ text: content, index: 0, logprobs: null, finish_reason: reply.finishReason ?? 'stop' }], usage }
    : {
        id: 'chatcmpl-mock',
        object: 'chat.completion',
        created: 1700000000,
        model: req.body.model,
        system_fingerprint: 'fp_mock',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: reply.toolCalls ? null : content,
              ...(reply.reasoning !== undefined ? { reasoning_content: reply.reasoning } : {}),
              refusal: null,
              ...(reply.toolCalls ? { tool_calls: reply.toolCalls.map((t, i) => ({ id: `call_${i}`, type: 'function', function: t })) } : {}),
            },
            logprobs: null,
            finish_reason: reply.finishReason ?? (reply.toolCalls ? 'tool_calls' : 'stop'),
          },
        ],
        usage,
      };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(json));
}

/** POST /v1/responses: the Responses API's object, or its event stream (which has no [DONE]). */
async function responses(
  req: ReceivedRequest,
  res: ServerResponse,
  reply: Extract<Behavior, { kind: 'reply' }>,
  cut: Extract<Behavior, { kind: 'cut' }> | null,
  stored: StoredResponses,
): Promise<void> {
  const previous = req.body?.previous_response_id;
  if (typeof previous === 'string' && stored.get(previous)?.channel !== channelOf(req)) {
    return notFound(res, 400, `Previous response with id '${previous}' not found.`, 'previous_response_id', 'previous_response_not_found');
  }
  const usage = reply.usage ?? DEFAULT_USAGE;
  const cap = req.body?.max_output_tokens;
  const output = typeof cap === 'number' ? Math.min(usage.completion, cap) : usage.completion;
  const fixture: ResponsesFixture = {
    model: req.body.model,
    ...(reply.toolCalls ? { functionCalls: reply.toolCalls } : { text: reply.content ?? DEFAULT_REPLY }),
    usage: { input: usage.prompt, output },
    status: output < usage.completion ? 'incomplete' : 'completed',
    textChunks: reply.chunks ?? 3,
    id: `resp_mock${++responseSeq}`,
  };
  if (req.body?.store !== false) stored.set(fixture.id!, { channel: channelOf(req), body: responsesBody(fixture, req.body), input: req.body?.input });
  if (!req.body?.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(responsesBody(fixture, req.body)));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const events = responsesEvents(fixture, req.body);
  for (let i = 0; i < events.length; i++) {
    if (cut && i === cut.afterChunks) {
      await sleep(30);
      res.socket?.destroy();
      return;
    }
    if (res.destroyed) return;
    res.write(responsesSseFrame(events[i]!));
    req.framesSent++;
    if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
  }
  res.end();
}

/** GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items: only the prefix that stored it finds it. */
function storedResponse(req: ReceivedRequest, res: ServerResponse, stored: StoredResponses): void {
  const [, id, rest] = /\/responses\/([^/?]+)(\/input_items)?/.exec(req.path)!;
  const found = stored.get(decodeURIComponent(id!));
  if (!found || found.channel !== channelOf(req)) return notFound(res, 404, `Response with id '${id}' not found.`, null, null);
  res.writeHead(200, { 'content-type': 'application/json' });
  if (req.method === 'DELETE') {
    stored.delete(id!);
    res.end(JSON.stringify({ id, object: 'response', deleted: true }));
  } else if (rest) {
    const items = (typeof found.input === 'string' ? [{ role: 'user', content: [{ type: 'input_text', text: found.input }] }] : (found.input as unknown[]) ?? []).map(
      (item, i) => ({ id: `msg_in${i}`, type: 'message', status: 'completed', ...(item as object) }),
    );
    res.end(JSON.stringify({ object: 'list', data: items, first_id: items[0]?.id ?? null, last_id: items.at(-1)?.id ?? null, has_more: false }));
  } else {
    res.end(JSON.stringify(found.body));
  }
}

function notFound(res: ServerResponse, status: number, message: string, param: string | null, code: string | null): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type: 'invalid_request_error', param, code } }));
}

function usageOf(u: Usage) {
  return {
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** Splits text into `n` roughly equal pieces (the mock's "tokens"). */
export function pieces(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / n));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

async function stream(req: ReceivedRequest, res: ServerResponse, reply: Extract<Behavior, { kind: 'reply' }>, cut: Extract<Behavior, { kind: 'cut' }> | null, legacy: boolean): Promise<void> {
  const includeUsage = req.body?.stream_options?.include_usage === true;
  const base = legacy
    ? { id: 'cmpl-mock', object: 'text_completion', created: 1700000000, model: req.body.model }
    : { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1700000000, model: req.body.model, system_fingerprint: 'fp_mock' };
  const withUsage = (o: object) => (includeUsage ? { ...o, usage: null } : o);
  const frames: object[] = [];
  const content = reply.content ?? DEFAULT_REPLY;
  if (legacy) {
    for (const p of pieces(content, reply.chunks ?? 5)) frames.push(withUsage({ ...base, choices: [{ text: p, index: 0, logprobs: null, finish_reason: null }] }));
    frames.push(withUsage({ ...base, choices: [{ text: '', index: 0, logprobs: null, finish_reason: reply.finishReason ?? 'stop' }] }));
  } else {
    frames.push(withUsage({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }] }));
    for (const p of reply.reasoning !== undefined ? pieces(reply.reasoning, 3) : []) {
      frames.push(withUsage({ ...base, choices: [{ index: 0, delta: { content: null, reasoning_content: p }, logprobs: null, finish_reason: null }] }));
    }
    if (reply.toolCalls) {
      reply.toolCalls.forEach((t, i) => {
        frames.push(withUsage({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: i, id: `call_${i}`, type: 'function', function: { name: t.name, arguments: '' } }] }, logprobs: null, finish_reason: null }] }));
        for (const p of pieces(t.arguments, 3)) {
          frames.push(withUsage({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: i, function: { arguments: p } }] }, logprobs: null, finish_reason: null }] }));
        }
      });
    } else {
      for (const p of pieces(content, reply.chunks ?? 5)) frames.push(withUsage({ ...base, choices: [{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null }] }));
    }
    frames.push(withUsage({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: reply.finishReason ?? (reply.toolCalls ? 'tool_calls' : 'stop') }] }));
  }
  if (includeUsage && reply.usage !== null) frames.push({ ...base, choices: [], usage: usageOf(reportedUsage(req, reply.usage ?? DEFAULT_USAGE)) });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  for (let i = 0; i < frames.length; i++) {
    if (cut && i === cut.afterChunks) {
      if (cut.hang) {
        // Silent until the other side gives up.
        await new Promise((r) => res.once('close', r));
        return;
      }
      // Let what was written leave first, then drop the connection without the terminating chunk.
      await sleep(30);
      res.socket?.destroy();
      return;
    }
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(frames[i])}\n\n`);
    req.framesSent++;
    if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
  }
  if (res.destroyed) return;
  res.end('data: [DONE]\n\n');
}

function embeddings(req: ReceivedRequest, res: ServerResponse): void {
  const inputs: unknown[] = Array.isArray(req.body.input) && typeof req.body.input[0] !== 'number' ? req.body.input : [req.body.input];
  const vector = [0.0023064255, -0.009327292, 0.015797347];
  const base64 = Buffer.from(new Float32Array(vector).buffer).toString('base64');
  const data = inputs.map((_, index) => ({ object: 'embedding', index, embedding: req.body.encoding_format === 'base64' ? base64 : vector }));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ object: 'list', data, model: req.body.model, usage: { prompt_tokens: 8 * inputs.length, total_tokens: 8 * inputs.length } }));
}
