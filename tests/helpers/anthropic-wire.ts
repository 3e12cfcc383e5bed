/**
 * Real Anthropic Messages API wire formats for mock upstreams and adapter tests: a non-stream
 * Message, the exact SSE text of a stream, and error bodies. Shapes follow Anthropic's documented
 * examples (docs.claude.com/en/api/messages, /en/docs/build-with-claude/streaming, /en/api/errors):
 * a ping right after the first content_block_start, tool input opened with partial_json "",
 * message_delta usage with output_tokens only unless asked for the cumulative form.
 */

export type AnthropicStopReasonFixture =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

export interface AnthropicToolUseFixture {
  id?: string;
  name: string;
  input: Record<string, unknown>;
}

export interface AnthropicUsageFixture {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export interface AnthropicFixture {
  id?: string;
  model?: string;
  /** A thinking block placed first (extended thinking), signed with THINKING_SIGNATURE. */
  thinking?: string;
  /** A redacted_thinking block after it, with this encrypted data. */
  redactedThinking?: string;
  /** usage.output_tokens_details.thinking_tokens (in the Message, and in message_delta's usage). */
  thinkingTokens?: number;
  text?: string;
  toolUses?: AnthropicToolUseFixture[];
  stopReason: AnthropicStopReasonFixture;
  stopSequence?: string | null;
  usage: AnthropicUsageFixture;
  /** Stream only: the text_delta pieces (default: the text split after each whitespace). */
  textChunks?: string[];
  /**
   * Stream only: `output` is the documented message_delta usage (`{output_tokens}`); `cumulative`
   * also repeats input and cache counters, as the API does for server-tool turns.
   */
  deltaUsage?: 'output' | 'cumulative';
}

export interface AnthropicSseFrame {
  event: string;
  data: Record<string, unknown>;
}

const DEFAULT_ID = 'msg_013Zva2CMHLNnXjNJJKqJ2EF';
const DEFAULT_MODEL = 'claude-sonnet-4-5-20250929';
export const THINKING_SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds';

function toolId(i: number, tool: AnthropicToolUseFixture): string {
  return tool.id ?? `toolu_01A09q90qw90lq91783${i}lq9`;
}

function usageBlock(u: AnthropicUsageFixture, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    output_tokens: outputTokens,
  };
}

function thinkingDetails(f: AnthropicFixture): Record<string, unknown> {
  return f.thinkingTokens === undefined ? {} : { output_tokens_details: { thinking_tokens: f.thinkingTokens } };
}

/** A non-stream Message body, as POST /v1/messages returns it. */
export function anthropicMessage(f: AnthropicFixture): Record<string, unknown> {
  const content: Array<Record<string, unknown>> = [];
  if (f.thinking !== undefined) content.push({ type: 'thinking', thinking: f.thinking, signature: THINKING_SIGNATURE });
  if (f.redactedThinking !== undefined) content.push({ type: 'redacted_thinking', data: f.redactedThinking });
  if (f.text !== undefined) content.push({ type: 'text', text: f.text });
  (f.toolUses ?? []).forEach((tool, i) => content.push({ type: 'tool_use', id: toolId(i, tool), name: tool.name, input: tool.input }));
  return {
    id: f.id ?? DEFAULT_ID,
    type: 'message',
    role: 'assistant',
    model: f.model ?? DEFAULT_MODEL,
    content,
    stop_reason: f.stopReason,
    stop_sequence: f.stopSequence ?? null,
    usage: { ...usageBlock(f.usage, f.usage.output_tokens), service_tier: 'standard', ...thinkingDetails(f) },
  };
}

function splitText(text: string): string[] {
  const pieces = text.split(/(?<=\s)/).filter((p) => p !== '');
  return pieces.length > 0 ? pieces : [text];
}

function splitJson(json: string, size = 12): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < json.length; i += size) pieces.push(json.slice(i, i + size));
  return pieces;
}

/** The stream as parsed events, in wire order. */
export function anthropicSseFrames(f: AnthropicFixture): AnthropicSseFrame[] {
  const frames: AnthropicSseFrame[] = [];
  const push = (data: Record<string, unknown>): void => {
    frames.push({ event: String(data.type), data });
  };
  let index = 0;
  let pinged = false;
  const start = (block: Record<string, unknown>): number => {
    push({ type: 'content_block_start', index, content_block: block });
    if (!pinged) {
      pinged = true;
      push({ type: 'ping' });
    }
    return index;
  };
  const stop = (i: number): void => {
    push({ type: 'content_block_stop', index: i });
    index += 1;
  };

  push({
    type: 'message_start',
    message: {
      id: f.id ?? DEFAULT_ID,
      type: 'message',
      role: 'assistant',
      content: [],
      model: f.model ?? DEFAULT_MODEL,
      stop_reason: null,
      stop_sequence: null,
      usage: usageBlock(f.usage, Math.min(1, f.usage.output_tokens)),
    },
  });
  if (f.thinking !== undefined) {
    const i = start({ type: 'thinking', thinking: '', signature: '' });
    for (const piece of splitText(f.thinking)) push({ type: 'content_block_delta', index: i, delta: { type: 'thinking_delta', thinking: piece } });
    push({ type: 'content_block_delta', index: i, delta: { type: 'signature_delta', signature: THINKING_SIGNATURE } });
    stop(i);
  }
  if (f.redactedThinking !== undefined) stop(start({ type: 'redacted_thinking', data: f.redactedThinking }));
  if (f.text !== undefined) {
    const i = start({ type: 'text', text: '' });
    for (const piece of f.textChunks ?? splitText(f.text)) push({ type: 'content_block_delta', index: i, delta: { type: 'text_delta', text: piece } });
    stop(i);
  }
  (f.toolUses ?? []).forEach((tool, t) => {
    const i = start({ type: 'tool_use', id: toolId(t, tool), name: tool.name, input: {} });
    for (const piece of ['', ...splitJson(JSON.stringify(tool.input))]) {
      push({ type: 'content_block_delta', index: i, delta: { type: 'input_json_delta', partial_json: piece } });
    }
    stop(i);
  });
  push({
    type: 'message_delta',
    delta: { stop_reason: f.stopReason, stop_sequence: f.stopSequence ?? null },
    usage: {
      ...(f.deltaUsage === 'cumulative' ? usageBlock(f.usage, f.usage.output_tokens) : { output_tokens: f.usage.output_tokens }),
      ...thinkingDetails(f),
    },
  });
  push({ type: 'message_stop' });
  return frames;
}

export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The exact response body of a streaming POST /v1/messages. */
export function anthropicSse(f: AnthropicFixture): string {
  return anthropicSseFrames(f)
    .map((frame) => sseFrame(frame.event, frame.data))
    .join('');
}

export type AnthropicErrorTypeFixture =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

const ERROR_STATUS: Record<AnthropicErrorTypeFixture, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The HTTP status Anthropic answers with for an error type. */
export function anthropicErrorStatus(type: AnthropicErrorTypeFixture): number {
  return ERROR_STATUS[type];
}

/** An error body: `{"type":"error","error":{"type","message"},"request_id"}`. */
export function anthropicError(type: AnthropicErrorTypeFixture, message: string, requestId = 'req_011CSHoEeqs5C35K2UUqR7Fy'): Record<string, unknown> {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

/** An error event inside a 200 stream (e.g. overloaded mid-response). */
export function anthropicSseError(type: AnthropicErrorTypeFixture, message: string): string {
  return sseFrame('error', { type: 'error', error: { type, message } });
}
