/** Clients for the fault tests: chat completions over real sockets, classified by what came back. */
import { Agent, request } from 'undici';

export interface ChatOutcome {
  /** HTTP status, or 0 when no response arrived (refused, reset). */
  status: number;
  /** A stream that reached `data: [DONE]` with no error frame, or a JSON answer with a choice. */
  complete: boolean;
  /** The error code of an error answer or an in-stream error frame. */
  code: string | null;
  /** Transport error code (ECONNREFUSED, UND_ERR_SOCKET...) when there was no response. */
  transport: string | null;
  frames: number;
  body: string;
  ms: number;
  /** When the answer (or the failure) was complete, epoch ms. */
  endedAt: number;
}

export interface ChatOptions {
  token: string;
  stream?: boolean;
  model?: string;
  content?: string;
  maxTokens?: number;
  dispatcher?: Agent;
  /** Gives up after this long (client side); default 60 s. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** A connection pool that opens a new socket per concurrent request and never retries. */
export function newAgent(): Agent {
  return new Agent({ connections: 1000, pipelining: 1, keepAliveTimeout: 1000, headersTimeout: 0, bodyTimeout: 0 });
}

export async function chat(baseUrl: string, opts: ChatOptions): Promise<ChatOutcome> {
  const started = Date.now();
  const body: Record<string, unknown> = {
    model: opts.model ?? 'gpt-4o-mini',
    messages: [{ role: 'user', content: opts.content ?? 'Say hello.' }],
  };
  if (opts.stream) body.stream = true;
  if (opts.maxTokens !== undefined) body.max_tokens = opts.maxTokens;
  try {
    const res = await request(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json', ...opts.headers },
      body: JSON.stringify(body),
      dispatcher: opts.dispatcher,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
    });
    const text = await res.body.text();
    return classify(res.statusCode, res.headers['content-type'], text, started);
  } catch (err) {
    const e = err as { code?: string; cause?: { code?: string }; name?: string };
    return { status: 0, complete: false, code: null, transport: e.code ?? e.cause?.code ?? e.name ?? 'error', frames: 0, body: '', ms: Date.now() - started, endedAt: Date.now() };
  }
}

function classify(status: number, contentType: string | string[] | undefined, text: string, started: number): ChatOutcome {
  const ms = Date.now() - started;
  const sse = String(contentType ?? '').startsWith('text/event-stream');
  if (sse) {
    const data = text
      .split('\n\n')
      .map((b) => b.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'))
      .filter(Boolean);
    const errorFrame = data.find((d) => d.startsWith('{"error"'));
    const code = errorFrame ? ((JSON.parse(errorFrame) as { error: { code: string } }).error.code ?? 'error') : null;
    const done = data.at(-1) === '[DONE]';
    return { status, complete: done && !errorFrame, code, transport: null, frames: data.length, body: text, ms, endedAt: started + ms };
  }
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  const err = (parsed as { error?: { code?: string } } | null)?.error;
  const choices = (parsed as { choices?: unknown[] } | null)?.choices;
  return { status, complete: status === 200 && Array.isArray(choices), code: err ? (err.code ?? 'error') : null, transport: null, frames: 0, body: text, ms, endedAt: started + ms };
}

/** Counts outcomes by `status:code` (or transport error), for the one-line summaries. */
export function tally(outcomes: ChatOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) {
    const k = o.status === 0 ? `refused:${o.transport}` : o.complete ? `${o.status}:complete` : `${o.status}:${o.code ?? 'incomplete'}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
