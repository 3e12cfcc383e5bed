/** What an upstream answered, as the usage record needs it: reply text, tool calls, reported usage. */
import type { StoredToolCall } from '../db/schema/chat-messages.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
}

export interface ReplySummary {
  content: string;
  toolCalls: StoredToolCall[];
  usage: Usage | null;
  finishReason: string | null;
  /**
   * Without `usage`: the prompt tokens the upstream reported before a stream was cut short of its usage
   * (Anthropic's message_start), which it bills whatever came after.
   */
  reportedPromptTokens?: number;
}

/**
 * A token count an upstream reported, if it is one: a whole number from 0 to what chat_messages.token_count
 * (an integer column) holds. Anything else (negative, fractional, absurd) is treated as not reported, and the
 * gateway counts for itself: a negative count would refund quota, an overflowing one fail the usage batch.
 */
export function reportedTokens(value: unknown): number | null {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= 2_147_483_647 ? (value as number) : null;
}

/** The summary of a stream whose usage never came, with the prompt tokens its upstream reported before that. */
export function withReportedPrompt(summary: ReplySummary, reported: number | null): ReplySummary {
  const tokens = reportedTokens(reported);
  return summary.usage || tokens === null ? summary : { ...summary, reportedPromptTokens: tokens };
}

function readUsage(u: unknown): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const prompt_tokens = reportedTokens((u as Record<string, unknown>).prompt_tokens);
  const completion_tokens = reportedTokens((u as Record<string, unknown>).completion_tokens);
  if (prompt_tokens === null || completion_tokens === null) return null;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

/** A chat.completion (non-stream) body. Legacy completions carry `text` instead of `message`. */
export function summarizeCompletion(body: unknown): ReplySummary {
  const b = (body ?? {}) as { choices?: { message?: { content?: unknown; tool_calls?: unknown }; text?: unknown; finish_reason?: unknown }[]; usage?: unknown };
  const choice = b.choices?.[0];
  const content = typeof choice?.message?.content === 'string' ? choice.message.content : typeof choice?.text === 'string' ? choice.text : '';
  const toolCalls = Array.isArray(choice?.message?.tool_calls) ? (choice!.message!.tool_calls as unknown[]).flatMap(toolCallOf) : [];
  return { content, toolCalls, usage: readUsage(b.usage), finishReason: typeof choice?.finish_reason === 'string' ? choice.finish_reason : null };
}

/**
 * A Responses API Response object (the whole answer, or the one its stream's response.completed carries): the
 * text of its message items, its function calls, its usage (input_tokens / output_tokens).
 */
export function summarizeResponse(body: unknown): ReplySummary {
  const b = (body ?? {}) as { output?: unknown; usage?: { input_tokens?: unknown; output_tokens?: unknown } | null; status?: unknown };
  const content = new TextParts();
  const toolCalls: StoredToolCall[] = [];
  for (const item of Array.isArray(b.output) ? (b.output as Record<string, unknown>[]) : []) {
    if (!item || typeof item !== 'object') continue;
    if (item.type === 'message' && Array.isArray(item.content)) {
      for (const part of item.content as Record<string, unknown>[]) {
        const text = part?.type === 'output_text' ? part.text : part?.type === 'refusal' ? part.refusal : undefined;
        if (typeof text === 'string') content.add(text);
      }
    } else if (item.type === 'function_call' && typeof item.name === 'string') {
      const id = typeof item.call_id === 'string' ? item.call_id : '';
      toolCalls.push({ id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '' } });
    }
  }
  const u = b.usage;
  const usage = u && typeof u === 'object' ? readUsage({ prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens }) : null;
  const finishReason = b.status === 'incomplete' ? 'length' : b.status === 'completed' ? (toolCalls.length > 0 ? 'tool_calls' : 'stop') : null;
  return { content: content.toString(), toolCalls, usage, finishReason };
}

interface ChunkDelta {
  content?: string | null;
  tool_calls?: { index?: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[];
}

/**
 * Reassembles choice 0 of a chat.completion.chunk (or legacy text_completion) stream as its chunks pass:
 * a stream's memory is its summary, never its chunks, however long the answer.
 */
export class ChunkSummary {
  /** Chunks seen. */
  count = 0;
  /** Some choice (any index) reported a finish_reason: the answer is complete. */
  finished = false;
  private readonly content = new TextParts();
  private readonly calls: { id: string; type: string; name: string; arguments: TextParts }[] = [];
  private usage: Usage | null = null;
  private finishReason: string | null = null;

  add(data: string): void {
    this.count++;
    const text = contentChunkText(data);
    if (text !== null) {
      this.content.add(text);
      return;
    }
    let chunk: { choices?: { index?: number; delta?: ChunkDelta; text?: string; finish_reason?: string | null }[]; usage?: unknown };
    try {
      chunk = JSON.parse(data);
    } catch {
      return;
    }
    // Upstream data is untrusted: any JSON may arrive here (null, a number, choices that are not an array).
    if (!chunk || typeof chunk !== 'object') return;
    this.usage = readUsage(chunk.usage) ?? this.usage;
    for (const choice of Array.isArray(chunk.choices) ? chunk.choices : []) {
      if (!choice || typeof choice !== 'object') continue;
      const finish = typeof choice.finish_reason === 'string' && choice.finish_reason ? choice.finish_reason : null;
      if (finish) this.finished = true;
      if ((choice.index ?? 0) !== 0) continue;
      if (finish) this.finishReason = finish;
      if (typeof choice.text === 'string') this.content.add(choice.text);
      const delta = choice.delta;
      if (!delta || typeof delta !== 'object') continue;
      if (typeof delta.content === 'string') this.content.add(delta.content);
      for (const tc of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
        if (!tc || typeof tc !== 'object') continue;
        // A small array index only: `calls[tc.index]` must never reach Array.prototype (`"__proto__"`).
        const i = Number.isInteger(tc.index) && tc.index! >= 0 && tc.index! < 128 ? tc.index! : 0;
        const call = (this.calls[i] ??= { id: '', type: 'function', name: '', arguments: new TextParts() });
        if (typeof tc.id === 'string' && tc.id) call.id = tc.id;
        if (typeof tc.type === 'string' && tc.type) call.type = tc.type;
        if (typeof tc.function?.name === 'string') call.name += tc.function.name;
        if (typeof tc.function?.arguments === 'string') call.arguments.add(tc.function.arguments);
      }
    }
  }

  result(): ReplySummary {
    const toolCalls = this.calls.filter(Boolean).map((c) => ({ id: c.id, type: c.type, function: { name: c.name, arguments: c.arguments.toString() } }));
    return { content: this.content.toString(), toolCalls, usage: this.usage, finishReason: this.finishReason };
  }
}

/**
 * Text that arrives in many small pieces. With `+=` a string keeps every piece and a 32-byte link to it until
 * it is read: ~80 KB held for a 2,000-chunk answer of 7 KB, by each open stream. Linked in blocks of 64 joined
 * pieces it holds a sixty-fourth of the links (~9 KB for that answer), stays linear however long the answer,
 * and costs less CPU than the links did.
 */
export class TextParts {
  private head = '';
  private tail: string[] = [];

  add(piece: string): void {
    this.tail.push(piece);
    if (this.tail.length === 64) {
      this.head += this.tail.join('');
      this.tail = [];
    }
  }

  toString(): string {
    return this.head + this.tail.join('');
  }
}

// Most chunks of an OpenAI-format stream carry one content delta and nothing else; reading that shape with one
// regular expression costs a fifth of JSON.parse. Only exactly that shape (compact JSON, choice 0 alone, no
// finish_reason, other top-level fields scalar): a quote inside a JSON string is escaped, so a key in this
// pattern can never match text inside a value. Anything else takes the full parse.
const JSON_STRING = String.raw`"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4}))*"`;
const SCALAR = String.raw`(?:${JSON_STRING}|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)`;
const FIELD = String.raw`"(?!choices")[A-Za-z0-9_]*":${SCALAR}`;
const CONTENT_CHUNK = new RegExp(
  String.raw`^\{(?:${FIELD},)*"choices":\[\{"index":0,"delta":\{"content":(${JSON_STRING})\}(?:,"logprobs":null)?,"finish_reason":null\}\](?:,${FIELD})*\}$`,
);

/** The content of a chunk whose only news is choice 0's content delta; null for any other chunk. */
export function contentChunkText(data: string): string | null {
  const literal = CONTENT_CHUNK.exec(data)?.[1];
  if (literal === undefined) return null;
  // The pattern admits only valid escapes, so this parse cannot fail.
  return literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
}

/** The summary of a whole list of chunk payloads. */
export function summarizeChunks(chunks: readonly string[]): ReplySummary {
  const summary = new ChunkSummary();
  for (const data of chunks) summary.add(data);
  return summary.result();
}

/** True for a chunk that only carries usage (choices empty): held back unless the client asked for usage. */
export function isUsageOnlyChunk(data: string): boolean {
  return /"usage"\s*:\s*\{/.test(data) && /"choices"\s*:\s*\[\s*\]/.test(data);
}

/** A complete tool call from a non-stream answer, or nothing when upstream sent something else. */
function toolCallOf(raw: unknown): StoredToolCall[] {
  if (!raw || typeof raw !== 'object') return [];
  const t = raw as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } };
  const fn = t.function && typeof t.function === 'object' ? t.function : {};
  return [
    {
      ...(raw as object),
      id: typeof t.id === 'string' ? t.id : '',
      type: typeof t.type === 'string' ? t.type : 'function',
      function: { ...fn, name: typeof fn.name === 'string' ? fn.name : '', arguments: typeof fn.arguments === 'string' ? fn.arguments : '' },
    } as StoredToolCall,
  ];
}
