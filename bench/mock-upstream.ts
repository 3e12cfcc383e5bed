/**
 * A zero-latency OpenAI-format upstream for the bench: chat completions as JSON (with usage) or as SSE streams
 * of a configurable number of content chunks (the usage chunk when stream_options.include_usage is set), from
 * answers precomputed per distinct request shape. Optional slow chunks (a delay between frames) serve the
 * open-streams scenario; a request picks them with `metadata: { bench_chunks, bench_chunk_delay_ms }`, which
 * the gateway passes through untouched like any field it does not read.
 *
 * It listens on several ports (one origin each), so the gateway's 50 channels spread over several upstream
 * origins the way real channels do. Run as a child: `node --import tsx bench/mock-upstream.ts`; it prints one
 * JSON line `{"ready":true,"ports":[...]}` on stdout. GET /__stats answers its counters; GET /__reset-peaks restarts
 * the per-port peaks of open sockets.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';

export interface MockOptions {
  host: string;
  /** How many ports (origins) to listen on; 0 picks free ports. */
  ports: number;
  /** Content chunks per stream unless a request asks otherwise. */
  chunks: number;
  /** Completion tokens of a non-stream answer (capped at the request's max_tokens, as a real model stops there). */
  completionTokens: number;
}

export interface MockStats {
  /** Chat completions answered, by who called: the gateway (a channel key) or a client directly/through the bare proxy. */
  fromGateway: number;
  fromOthers: number;
  streams: number;
  /** Streams whose caller went away before the last frame. */
  streamsCut: number;
  /** Open sockets now, and the most ever open at once, per port. */
  openSockets: number[];
  peakSockets: number[];
  badRequests: number;
}

export interface RunningMock {
  ports: number[];
  stats: MockStats;
  close(): Promise<void>;
}

interface Shape {
  model: string;
  prompt: number;
  completion: number;
  stream: boolean;
  includeUsage: boolean;
  chunks: number;
}

const CREATED = 1_700_000_000;
const MAX_CACHE = 20_000;
/** Whoever calls with a channel key is the gateway (the seed's channel keys start with this). */
export const CHANNEL_KEY_PREFIX = 'sk-bench-channel-';

export async function startMock(opts: MockOptions): Promise<RunningMock> {
  const stats: MockStats = {
    fromGateway: 0,
    fromOthers: 0,
    streams: 0,
    streamsCut: 0,
    openSockets: new Array(opts.ports).fill(0),
    peakSockets: new Array(opts.ports).fill(0),
    badRequests: 0,
  };
  // Precomputed answers: JSON bodies and SSE frame lists keyed by their shape; prompt counts keyed by messages.
  const answers = new Map<string, Buffer | Buffer[]>();
  const promptCounts = new Map<string, number>();

  const promptTokens = (messages: unknown): number => {
    const key = JSON.stringify(messages);
    let n = promptCounts.get(key);
    if (n === undefined) {
      n = countPrompt(messages);
      if (promptCounts.size >= MAX_CACHE) promptCounts.clear();
      promptCounts.set(key, n);
    }
    return n;
  };

  const cached = <T extends Buffer | Buffer[]>(shape: Shape, build: () => T): T => {
    const key = `${shape.model}|${shape.prompt}|${shape.completion}|${shape.stream}|${shape.includeUsage}|${shape.chunks}`;
    let hit = answers.get(key) as T | undefined;
    if (!hit) {
      hit = build();
      if (answers.size >= MAX_CACHE) answers.clear();
      answers.set(key, hit);
    }
    return hit;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && (req.url === '/__stats' || req.url === '/__reset-peaks')) {
      // Peaks restart from what is open now, so one scenario's peak is not another's.
      if (req.url === '/__reset-peaks') stats.peakSockets = [...stats.openSockets];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let body: Record<string, any> | null = null;
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, any>;
      } catch {
        body = null;
      }
      if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages) || !req.url?.endsWith('/chat/completions')) {
        stats.badRequests++;
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"bench mock: only chat completions","type":"invalid_request_error","param":null,"code":null}}');
        return;
      }
      const auth = req.headers.authorization ?? '';
      if (auth.startsWith(`Bearer ${CHANNEL_KEY_PREFIX}`)) stats.fromGateway++;
      else stats.fromOthers++;

      const meta = (body.metadata ?? {}) as Record<string, unknown>;
      const cap = typeof body.max_completion_tokens === 'number' ? body.max_completion_tokens : typeof body.max_tokens === 'number' ? body.max_tokens : Infinity;
      const stream = body.stream === true;
      const chunks = Number(meta.bench_chunks ?? opts.chunks) || opts.chunks;
      const shape: Shape = {
        model: body.model,
        prompt: promptTokens(body.messages),
        completion: Math.min(stream ? chunks : opts.completionTokens, cap),
        stream,
        includeUsage: stream && body.stream_options?.include_usage === true,
        chunks,
      };
      if (!stream) {
        const json = cached(shape, () => Buffer.from(JSON.stringify(completion(shape))));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
        res.end(json);
        return;
      }
      stats.streams++;
      const frames = cached(shape, () => streamFrames(shape));
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const delay = Number(meta.bench_chunk_delay_ms ?? 0) || 0;
      if (delay <= 0) {
        // Each frame is its own write, as a real upstream sends them.
        for (const f of frames) res.write(f);
        res.end();
        return;
      }
      let i = 0;
      const next = () => {
        if (res.destroyed) {
          stats.streamsCut++;
          return;
        }
        res.write(frames[i++]!);
        if (i < frames.length) setTimeout(next, delay);
        else res.end();
      };
      next();
    });
  };

  const servers: http.Server[] = [];
  const ports: number[] = [];
  for (let p = 0; p < opts.ports; p++) {
    const server = http.createServer(handle);
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 0;
    server.on('connection', (s: Socket) => {
      stats.openSockets[p]!++;
      if (stats.openSockets[p]! > stats.peakSockets[p]!) stats.peakSockets[p] = stats.openSockets[p]!;
      s.on('close', () => stats.openSockets[p]!--);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, opts.host, 8192, () => resolve());
    });
    servers.push(server);
    ports.push((server.address() as AddressInfo).port);
  }
  return {
    ports,
    stats,
    close: async () => {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.closeAllConnections();
              s.close(() => r());
            }),
        ),
      );
    },
  };
}

/** Prompt tokens as OpenAI counts them: the content's tokens plus 3 per message and 3 for the reply. */
function countPrompt(messages: unknown): number {
  let total = 3;
  for (const m of messages as { content?: unknown }[]) {
    total += 3;
    if (typeof m?.content === 'string' && m.content.length > 0) total += countTokens(m.content);
  }
  return total;
}

function usageOf(s: Shape) {
  return {
    prompt_tokens: s.prompt,
    completion_tokens: s.completion,
    total_tokens: s.prompt + s.completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function completion(s: Shape) {
  return {
    id: 'chatcmpl-benchmock',
    object: 'chat.completion',
    created: CREATED,
    model: s.model,
    system_fingerprint: 'fp_bench',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'tok '.repeat(s.completion).trim(), refusal: null },
        logprobs: null,
        finish_reason: s.completion < 20 ? 'length' : 'stop',
      },
    ],
    usage: usageOf(s),
    service_tier: 'default',
  };
}

function streamFrames(s: Shape): Buffer[] {
  const base = { id: 'chatcmpl-benchmock', object: 'chat.completion.chunk', created: CREATED, model: s.model, system_fingerprint: 'fp_bench' };
  const u = s.includeUsage ? { usage: null } : {};
  const frames: object[] = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }], ...u }];
  // One content chunk per completion token, so usage matches what was streamed.
  for (let i = 0; i < s.completion; i++) frames.push({ ...base, choices: [{ index: 0, delta: { content: 'tok ' }, logprobs: null, finish_reason: null }], ...u });
  frames.push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: s.completion < s.chunks ? 'length' : 'stop' }], ...u });
  if (s.includeUsage) frames.push({ ...base, choices: [], usage: usageOf(s) });
  const out = frames.map((f) => Buffer.from(`data: ${JSON.stringify(f)}\n\n`));
  out.push(Buffer.from('data: [DONE]\n\n'));
  return out;
}

function envInt(name: string, def: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : def;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const mock = await startMock({
    host: '127.0.0.1',
    ports: envInt('BENCH_MOCK_PORTS', 10),
    chunks: envInt('BENCH_STREAM_CHUNKS', 20),
    completionTokens: envInt('BENCH_COMPLETION_TOKENS', 20),
  });
  process.stdout.write(JSON.stringify({ ready: true, ports: mock.ports }) + '\n');
  const stop = () => void mock.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
