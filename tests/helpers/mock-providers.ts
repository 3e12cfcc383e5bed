/**
 * A fake Anthropic and Azure OpenAI upstream on one real socket.
 * - Anthropic: POST /v1/messages in the Messages API's exact wire format (tests/helpers/anthropic-wire.ts):
 *   a Message, or an SSE stream with `event:` lines; errors as `{"type":"error","error":{...}}` with the
 *   type's status. Requests are checked the way the API checks them (headers, max_tokens, block shapes,
 *   tool_result after tool_use) and refused with a 400 invalid_request_error when wrong.
 * - Azure: POST /openai/deployments/{deployment}/chat/completions?api-version=... with the `api-key`
 *   header, answering in Azure's format: prompt_filter_results, per-choice content_filter_results, and a
 *   stream that opens with a filter-only chunk (`choices: []`).
 * Every request is recorded; answers can be scripted per request (errors, cut streams, resets, stalls),
 * and the accepted keys can be restricted (others get the provider's 401).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import {
  anthropicError,
  anthropicErrorStatus,
  anthropicMessage,
  anthropicSseFrames,
  sseFrame,
  type AnthropicErrorTypeFixture,
  type AnthropicFixture,
} from './anthropic-wire.js';

export interface ProviderRequest {
  provider: 'anthropic' | 'azure' | 'unknown';
  method: string;
  /** Path with the query string. */
  path: string;
  pathname: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: any;
  /** Azure: the deployment named in the URL. */
  deployment?: string;
  /** The key the request presented (x-api-key or api-key). */
  key?: string;
}

export interface AzureReply {
  content?: string;
  toolCalls?: { name: string; arguments: string }[];
  usage?: { prompt: number; completion: number } | null;
  finishReason?: string;
  /** Leave out the leading filter-only chunk of a stream (default: sent, as Azure does). */
  noFilterChunk?: boolean;
}

export type ProviderBehavior =
  /** Anthropic answer built from a fixture (defaults filled in; model echoed). Streams follow body.stream. */
  | { kind: 'anthropic'; fixture?: Partial<AnthropicFixture>; errorAfterEvents?: { after: number; type: AnthropicErrorTypeFixture } }
  /** Anthropic error body with the type's status (or `status`). */
  | { kind: 'anthropic-error'; type: AnthropicErrorTypeFixture; message?: string; status?: number }
  | ({ kind: 'azure' } & AzureReply)
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'reset' }
  | { kind: 'stall'; ms: number }
  /** A 200 stream whose socket is destroyed after `afterEvents` SSE events. */
  | { kind: 'cut'; afterEvents: number };

export interface MockProviders {
  url: string;
  requests: ProviderRequest[];
  script(fn: ((req: ProviderRequest) => ProviderBehavior | undefined) | null): void;
  /** Keys the upstream accepts; null accepts any non-empty key. */
  acceptKeys(keys: string[] | null): void;
  /** Open connections, for leak checks. */
  connections(): number;
  close(): Promise<void>;
}

export const ANTHROPIC_DEFAULT_TEXT = 'Hello from Claude.';
export const ANTHROPIC_DEFAULT_USAGE = { input_tokens: 21, output_tokens: 9 };
export const AZURE_DEFAULT_TEXT = 'Hello from Azure.';
export const AZURE_DEFAULT_USAGE = { prompt: 15, completion: 6 };

export async function startMockProviders(): Promise<MockProviders> {
  const requests: ProviderRequest[] = [];
  let scripted: ((req: ProviderRequest) => ProviderBehavior | undefined) | null = null;
  let accepted: Set<string> | null = null;
  const sockets = new Set<Socket>();

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
    const url = new URL(req.url ?? '/', 'http://mock');
    const azure = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/.exec(url.pathname);
    const provider = url.pathname === '/v1/messages' ? 'anthropic' : azure ? 'azure' : 'unknown';
    const keyHeader = provider === 'azure' ? req.headers['api-key'] : req.headers['x-api-key'];
    const received: ProviderRequest = {
      provider,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      pathname: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      ...(azure ? { deployment: decodeURIComponent(azure[1]!) } : {}),
      ...(typeof keyHeader === 'string' ? { key: keyHeader } : {}),
    };
    requests.push(received);
    try {
      await answer(received, res, scripted?.(received), accepted);
    } catch {
      res.destroy();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script: (fn) => {
      scripted = fn;
    },
    acceptKeys: (keys) => {
      accepted = keys ? new Set(keys) : null;
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

/** Drops the connection mid-stream, after what was written had time to reach the reader. */
async function cut(res: ServerResponse): Promise<void> {
  await sleep(30);
  res.socket?.destroy();
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function answer(req: ProviderRequest, res: ServerResponse, scripted: ProviderBehavior | undefined, accepted: Set<string> | null): Promise<void> {
  if (req.provider === 'unknown') return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
  if (req.method !== 'POST') return sendJson(res, 405, { error: { code: '405', message: 'Method not allowed' } });

  if (req.provider === 'anthropic') {
    // Anthropic checks the key before anything else.
    if (!req.key) return sendJson(res, 401, anthropicError('authentication_error', 'x-api-key header is required'));
    if (accepted && !accepted.has(req.key)) return sendJson(res, 401, anthropicError('authentication_error', 'invalid x-api-key'));
  } else {
    if (!req.key || (accepted && !accepted.has(req.key))) {
      return sendJson(res, 401, {
        error: {
          code: '401',
          message:
            'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        },
      });
    }
    if (!req.query['api-version']) {
      return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
    }
  }

  const b = scripted ?? (req.provider === 'anthropic' ? { kind: 'anthropic' as const } : { kind: 'azure' as const });
  switch (b.kind) {
    case 'reset':
      res.socket?.destroy();
      return;
    case 'stall':
      await sleep(b.ms);
      res.socket?.destroy();
      return;
    case 'status':
      return sendJson(res, b.status, b.body ?? { error: { message: `mock failure ${b.status}` } }, b.headers);
    case 'anthropic-error':
      return sendJson(res, b.status ?? anthropicErrorStatus(b.type), anthropicError(b.type, b.message ?? `mock ${b.type} (secret detail sk-ant-mocksecret123456)`));
    case 'anthropic':
      return anthropicAnswer(req, res, b.fixture ?? {}, b.errorAfterEvents, null);
    case 'azure':
      return azureAnswer(req, res, b, null);
    case 'cut':
      return req.provider === 'anthropic' ? anthropicAnswer(req, res, {}, undefined, b.afterEvents) : azureAnswer(req, res, {}, b.afterEvents);
  }
}

// ---------------------------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------------------------

const BLOCK_TYPES = new Set(['text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking']);
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** What the Messages API would refuse with a 400, in its words; null when the request is well formed. */
export function anthropicRequestProblem(headers: IncomingMessage['headers'], body: any): string | null {
  if (typeof headers['anthropic-version'] !== 'string') return 'anthropic-version: header is required';
  if (!body || typeof body !== 'object') return 'request body must be a JSON object';
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: at least one message is required';
  if (body.system !== undefined && typeof body.system !== 'string') {
    if (!Array.isArray(body.system) || body.system.some((b: any) => b?.type !== 'text' || typeof b.text !== 'string')) return 'system: must be a string or text blocks';
  }
  if (body.stop_sequences !== undefined && (!Array.isArray(body.stop_sequences) || body.stop_sequences.some((s: unknown) => typeof s !== 'string'))) {
    return 'stop_sequences: must be a list of strings';
  }
  if (body.temperature !== undefined && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 1)) {
    return 'temperature: Input should be less than or equal to 1';
  }
  for (const [i, tool] of (body.tools ?? []).entries()) {
    if (typeof tool?.name !== 'string' || typeof tool.input_schema !== 'object') return `tools.${i}: name and input_schema are required`;
  }
  if (body.tool_choice !== undefined && !['auto', 'any', 'tool', 'none'].includes(body.tool_choice?.type)) return 'tool_choice: unknown type';
  if (body.output_config !== undefined) {
    const { effort, format, ...rest } = body.output_config ?? {};
    if (Object.keys(rest).length > 0) return `output_config.${Object.keys(rest)[0]}: Extra inputs are not permitted`;
    if (effort !== undefined && !['low', 'medium', 'high', 'xhigh', 'max'].includes(effort)) return "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'";
    if (format !== undefined && (format?.type !== 'json_schema' || typeof format.schema !== 'object' || format.schema === null)) return 'output_config.format: invalid format';
  }
  if (body.thinking !== undefined && !['enabled', 'disabled', 'adaptive', 'between_tools'].includes(body.thinking?.type)) return 'thinking.type: unknown type';
  if (body.tool_choice?.type === 'tool' && typeof body.tool_choice.name !== 'string') return 'tool_choice.name: Field required';

  let pendingToolUses: string[] = [];
  for (const [i, m] of body.messages.entries()) {
    if (m?.role !== 'user' && m?.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    const blocks: any[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : [];
    if (!Array.isArray(m.content) && typeof m.content !== 'string') return `messages.${i}.content: Field required`;
    const results: string[] = [];
    let sawNonResult = false;
    for (const [j, block] of blocks.entries()) {
      if (!BLOCK_TYPES.has(block?.type)) return `messages.${i}.content.${j}.type: unknown block type`;
      if (block.type === 'text' && (typeof block.text !== 'string' || block.text === '')) return `messages.${i}.content.${j}: text content blocks must be non-empty`;
      if (block.type === 'thinking' && (m.role !== 'assistant' || typeof block.thinking !== 'string' || typeof block.signature !== 'string' || block.signature === '')) {
        return `messages.${i}.content.${j}.signature: Field required`;
      }
      if (block.type === 'redacted_thinking' && (m.role !== 'assistant' || typeof block.data !== 'string')) return `messages.${i}.content.${j}.data: Field required`;
      if (block.type === 'image') {
        const s = block.source;
        const ok = (s?.type === 'base64' && IMAGE_TYPES.has(s.media_type) && typeof s.data === 'string') || (s?.type === 'url' && /^https?:\/\//.test(s.url));
        if (!ok) return `messages.${i}.content.${j}.source: invalid image source`;
      }
      if (block.type === 'tool_use') {
        if (m.role !== 'assistant') return `messages.${i}.content.${j}: tool_use blocks are only allowed in assistant messages`;
        if (!/^[a-zA-Z0-9_-]+$/.test(block.id ?? '') || typeof block.name !== 'string' || typeof block.input !== 'object') return `messages.${i}.content.${j}: invalid tool_use block`;
      }
      if (block.type === 'tool_result') {
        if (m.role !== 'user') return `messages.${i}.content.${j}: tool_result blocks are only allowed in user messages`;
        if (sawNonResult) return `messages.${i}: tool_result blocks must come first in the user message`;
        results.push(block.tool_use_id);
      } else sawNonResult = true;
    }
    if (m.role === 'user') {
      for (const id of results) {
        if (!pendingToolUses.includes(id)) return `messages.${i}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      }
      const missing = pendingToolUses.filter((id) => !results.includes(id));
      if (missing.length > 0) return `messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}`;
      pendingToolUses = [];
    } else {
      if (pendingToolUses.length > 0) return `messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${pendingToolUses.join(', ')}`;
      pendingToolUses = blocks.filter((b) => b.type === 'tool_use').map((b) => b.id);
    }
  }
  return null;
}

async function anthropicAnswer(
  req: ProviderRequest,
  res: ServerResponse,
  partial: Partial<AnthropicFixture>,
  errorAfter: { after: number; type: AnthropicErrorTypeFixture } | undefined,
  cutAfter: number | null,
): Promise<void> {
  const problem = anthropicRequestProblem(req.headers, req.body);
  if (problem) return sendJson(res, 400, anthropicError('invalid_request_error', problem));
  const fixture: AnthropicFixture = {
    model: req.body.model,
    stopReason: partial.toolUses?.length ? 'tool_use' : 'end_turn',
    usage: ANTHROPIC_DEFAULT_USAGE,
    ...(partial.toolUses?.length ? {} : { text: ANTHROPIC_DEFAULT_TEXT }),
    ...partial,
  };
  const headers = { 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy', 'anthropic-organization-id': 'org-mock' };
  if (req.body.stream !== true) return sendJson(res, 200, anthropicMessage(fixture), headers);

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers });
  const frames = anthropicSseFrames(fixture);
  for (let i = 0; i < frames.length; i++) {
    if (cutAfter !== null && i === cutAfter) {
      await cut(res);
      return;
    }
    if (errorAfter && i === errorAfter.after) {
      // Separately from what came before, as a real mid-stream error arrives.
      await sleep(30);
      res.end(sseFrame('error', { type: 'error', error: { type: errorAfter.type, message: 'Overloaded' } }));
      return;
    }
    if (res.destroyed) return;
    res.write(sseFrame(frames[i]!.event, frames[i]!.data));
  }
  res.end();
}

// ---------------------------------------------------------------------------------------------
// Azure OpenAI
// ---------------------------------------------------------------------------------------------

const SAFE = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};
const PROMPT_FILTER_RESULTS = [{ prompt_index: 0, content_filter_results: { ...SAFE, jailbreak: { filtered: false, detected: false } } }];
const COMPLETION_FILTER_RESULTS = {
  ...SAFE,
  protected_material_code: { filtered: false, detected: false },
  protected_material_text: { filtered: false, detected: false },
};
const AZURE_MODEL = 'gpt-4o-2024-08-06';

function azureUsage(u: { prompt: number; completion: number }) {
  return {
    completion_tokens: u.completion,
    completion_tokens_details: { accepted_prediction_tokens: 0, audio_tokens: 0, reasoning_tokens: 0, rejected_prediction_tokens: 0 },
    prompt_tokens: u.prompt,
    prompt_tokens_details: { audio_tokens: 0, cached_tokens: 0 },
    total_tokens: u.prompt + u.completion,
  };
}

function pieces(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / n));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

async function azureAnswer(req: ProviderRequest, res: ServerResponse, reply: AzureReply, cutAfter: number | null): Promise<void> {
  if (!Array.isArray(req.body?.messages) || req.body.messages.length === 0) {
    return sendJson(res, 400, { error: { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: null } });
  }
  const id = 'chatcmpl-AZmock0123456789';
  const created = 1733000000;
  const content = reply.content ?? AZURE_DEFAULT_TEXT;
  const finishReason = reply.finishReason ?? (reply.toolCalls ? 'tool_calls' : 'stop');
  const usage = reply.usage === null ? undefined : azureUsage(reply.usage ?? AZURE_DEFAULT_USAGE);
  const toolCalls = reply.toolCalls?.map((t, i) => ({ id: `call_az${i}`, type: 'function', function: t }));

  if (req.body.stream !== true) {
    return sendJson(res, 200, {
      choices: [
        {
          content_filter_results: COMPLETION_FILTER_RESULTS,
          finish_reason: finishReason,
          index: 0,
          logprobs: null,
          message: { content: toolCalls ? null : content, refusal: null, role: 'assistant', ...(toolCalls ? { tool_calls: toolCalls } : {}) },
        },
      ],
      created,
      id,
      model: AZURE_MODEL,
      object: 'chat.completion',
      prompt_filter_results: PROMPT_FILTER_RESULTS,
      system_fingerprint: 'fp_04751d0b65',
      usage,
    });
  }

  const base = { created, id, model: AZURE_MODEL, object: 'chat.completion.chunk', system_fingerprint: 'fp_04751d0b65' };
  const frames: object[] = [];
  // Azure opens every stream with the prompt's filter verdict, in a chunk with no choices and empty ids.
  if (!reply.noFilterChunk) frames.push({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER_RESULTS });
  frames.push({ choices: [{ content_filter_results: {}, delta: { content: '', refusal: null, role: 'assistant' }, finish_reason: null, index: 0, logprobs: null }], ...base });
  if (toolCalls) {
    toolCalls.forEach((t, i) => {
      frames.push({ choices: [{ content_filter_results: {}, delta: { tool_calls: [{ index: i, id: t.id, type: 'function', function: { name: t.function.name, arguments: '' } }] }, finish_reason: null, index: 0, logprobs: null }], ...base });
      for (const p of pieces(t.function.arguments, 3)) {
        frames.push({ choices: [{ content_filter_results: {}, delta: { tool_calls: [{ index: i, function: { arguments: p } }] }, finish_reason: null, index: 0, logprobs: null }], ...base });
      }
    });
  } else {
    for (const p of pieces(content, 4)) {
      frames.push({ choices: [{ content_filter_results: SAFE, delta: { content: p }, finish_reason: null, index: 0, logprobs: null }], ...base });
    }
  }
  frames.push({ choices: [{ content_filter_results: {}, delta: {}, finish_reason: finishReason, index: 0, logprobs: null }], ...base });
  if (req.body.stream_options?.include_usage === true && usage) frames.push({ choices: [], ...base, usage });

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'apim-request-id': 'mock-apim' });
  for (let i = 0; i < frames.length; i++) {
    if (cutAfter !== null && i === cutAfter) {
      await cut(res);
      return;
    }
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(frames[i])}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}
