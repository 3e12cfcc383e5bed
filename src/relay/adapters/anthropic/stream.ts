/**
 * Anthropic Messages SSE events -> OpenAI chat.completion.chunk objects, one upstream event at a time.
 *
 * Event flow (docs.claude.com/en/docs/build-with-claude/streaming): message_start, then per content
 * block content_block_start / content_block_delta... / content_block_stop, then message_delta (stop
 * reason and usage) and message_stop; ping may appear anywhere and error may end the stream.
 * The caller serialises each chunk as `data: <json>\n\n` and appends `data: [DONE]`.
 */

import { mapAnthropicErrorObject } from './errors.js';
import { isRecord, num, parseJsonObject, str } from './guards.js';
import { finishReasonFromAnthropic, usageFromAnthropic } from './response.js';
import type { JsonObject, OpenAIChunk, OpenAIChunkDelta, OpenAIUsage, TranslatedError } from './wire.js';

export interface AnthropicStreamContext {
  id: string;
  model: string;
  created: number;
  /** The client's stream_options.include_usage. */
  includeUsage: boolean;
}

export interface AnthropicStreamTranslator {
  /** One SSE event (its `event:` name, if any, and its `data:` text) -> zero or more chunks. */
  push(event: string | undefined, data: string): OpenAIChunk[];
  /**
   * Call when the upstream body ended. Returns the closing chunks if message_stop never came but the
   * stop reason did; otherwise, if the stream was cut short, records an error and returns nothing.
   */
  finish(): OpenAIChunk[];
  /** Usage so far (exact once message_delta arrived), for settlement even on a cut stream. */
  usage(): OpenAIUsage | null;
  /** Set after an upstream `error` event, a malformed event or a cut stream: send it as the final frame. */
  error(): TranslatedError | null;
}

type BlockState =
  | { kind: 'text' }
  | { kind: 'thinking' }
  | { kind: 'tool'; openaiIndex: number; sawArguments: boolean; input: JsonObject }
  | { kind: 'ignored' };

type UsageKey = 'input_tokens' | 'output_tokens' | 'cache_read_input_tokens' | 'cache_creation_input_tokens';
const USAGE_KEYS: readonly UsageKey[] = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'];

export function createAnthropicStreamTranslator(ctx: AnthropicStreamContext): AnthropicStreamTranslator {
  // Keyed by Anthropic's block index, which counts text and thinking blocks too; OpenAI numbers
  // tool calls alone from 0, so tool blocks get their own counter.
  const blocks = new Map<number, BlockState>();
  let toolCount = 0;
  let roleSent = false;
  let stopReason: unknown;
  let completed = false;
  let failure: TranslatedError | null = null;
  let usageSeen = false;
  let thinkingTokens: number | undefined;
  const rawUsage: Record<UsageKey, number> = {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
  };

  function chunk(delta: OpenAIChunkDelta, finishReason: OpenAIChunk['choices'][number]['finish_reason'] = null): OpenAIChunk {
    // The role rides on the first delta only, as OpenAI sends it.
    const d: OpenAIChunkDelta = roleSent ? delta : { role: 'assistant', ...delta };
    roleSent = true;
    const c: OpenAIChunk = {
      id: ctx.id,
      object: 'chat.completion.chunk',
      created: ctx.created,
      model: ctx.model,
      choices: [{ index: 0, delta: d, logprobs: null, finish_reason: finishReason }],
    };
    // With include_usage OpenAI puts `usage: null` on every chunk but the last.
    if (ctx.includeUsage) c.usage = null;
    return c;
  }

  /** message_start carries input counts, message_delta cumulative totals: overwrite, never add. */
  function mergeUsage(usage: unknown): void {
    if (!isRecord(usage)) return;
    usageSeen = true;
    for (const key of USAGE_KEYS) {
      const value = num(usage[key]);
      if (value !== undefined) rawUsage[key] = value;
    }
    const details = usage.output_tokens_details;
    if (isRecord(details)) thinkingTokens = num(details.thinking_tokens) ?? thinkingTokens;
  }

  function usage(): OpenAIUsage | null {
    if (!usageSeen) return null;
    return usageFromAnthropic(thinkingTokens === undefined ? rawUsage : { ...rawUsage, output_tokens_details: { thinking_tokens: thinkingTokens } });
  }

  /** Exactly one chunk carries a finish_reason; the usage chunk (choices: []) comes after it. */
  function complete(): OpenAIChunk[] {
    if (completed) return [];
    completed = true;
    const out = [chunk({}, finishReasonFromAnthropic(stopReason))];
    if (ctx.includeUsage) {
      out.push({
        id: ctx.id,
        object: 'chat.completion.chunk',
        created: ctx.created,
        model: ctx.model,
        choices: [],
        usage: usage() ?? usageFromAnthropic({}),
      });
    }
    return out;
  }

  function blockStart(payload: JsonObject): OpenAIChunk[] {
    const index = num(payload.index);
    const block = payload.content_block;
    if (index === undefined || !isRecord(block)) return [];
    if (block.type === 'text') {
      blocks.set(index, { kind: 'text' });
      const text = str(block.text);
      return text ? [chunk({ content: text })] : [];
    }
    if (block.type === 'tool_use') {
      const state: BlockState = {
        kind: 'tool',
        openaiIndex: toolCount++,
        sawArguments: false,
        input: isRecord(block.input) ? block.input : {},
      };
      blocks.set(index, state);
      // OpenAI's first delta of a call carries id, type and name with empty arguments.
      return [
        chunk({
          tool_calls: [
            { index: state.openaiIndex, id: str(block.id) ?? '', type: 'function', function: { name: str(block.name) ?? '', arguments: '' } },
          ],
        }),
      ];
    }
    // Thinking streams as reasoning_content; its signature and redacted thinking as thinking_blocks.
    if (block.type === 'thinking') {
      blocks.set(index, { kind: 'thinking' });
      const thinking = str(block.thinking);
      return thinking ? [chunk({ reasoning_content: thinking })] : [];
    }
    blocks.set(index, { kind: 'ignored' }); // server tool blocks have no OpenAI form
    const data = block.type === 'redacted_thinking' ? str(block.data) : undefined;
    return data ? [chunk({ thinking_blocks: [{ type: 'redacted_thinking', data }] })] : [];
  }

  function blockDelta(payload: JsonObject): OpenAIChunk[] {
    const delta = payload.delta;
    if (!isRecord(delta)) return [];
    const state = blocks.get(num(payload.index) ?? -1);
    if (delta.type === 'text_delta') {
      const text = str(delta.text);
      return text && state?.kind !== 'ignored' ? [chunk({ content: text })] : [];
    }
    if (delta.type === 'input_json_delta' && state?.kind === 'tool') {
      // Anthropic opens each tool input with partial_json "", which OpenAI clients do not need.
      const fragment = str(delta.partial_json) ?? '';
      if (fragment === '') return [];
      state.sawArguments = true;
      return [chunk({ tool_calls: [{ index: state.openaiIndex, function: { arguments: fragment } }] })];
    }
    if (state?.kind === 'thinking') {
      const thinking = delta.type === 'thinking_delta' ? str(delta.thinking) : undefined;
      if (thinking) return [chunk({ reasoning_content: thinking })];
      const signature = delta.type === 'signature_delta' ? str(delta.signature) : undefined;
      if (signature) return [chunk({ thinking_blocks: [{ type: 'thinking', signature }] })];
    }
    return []; // citations_delta, and deltas of blocks without an OpenAI form
  }

  function blockStop(payload: JsonObject): OpenAIChunk[] {
    const state = blocks.get(num(payload.index) ?? -1);
    // Some Anthropic-compatible servers put the whole input in content_block_start and stream no
    // input_json_delta; without this the call would reach the client with arguments "".
    // A call without arguments ends as "{}", as the same answer does unstreamed: clients JSON.parse it.
    if (state?.kind === 'tool' && !state.sawArguments) {
      state.sawArguments = true;
      return [chunk({ tool_calls: [{ index: state.openaiIndex, function: { arguments: JSON.stringify(state.input) } }] })];
    }
    return [];
  }

  return {
    push(event, data) {
      if (completed || failure) return [];
      const payload = parseJsonObject(data);
      if (!payload) {
        failure = { status: 502, type: 'server_error', code: 'upstream_bad_stream', message: 'The upstream provider sent a malformed stream event.' };
        return [];
      }
      switch (event || str(payload.type)) {
        case 'message_start': {
          mergeUsage(isRecord(payload.message) ? payload.message.usage : undefined);
          return roleSent ? [] : [chunk({ content: '' })];
        }
        case 'content_block_start':
          return blockStart(payload);
        case 'content_block_delta':
          return blockDelta(payload);
        case 'content_block_stop':
          return blockStop(payload);
        case 'message_delta': {
          const reason = isRecord(payload.delta) ? payload.delta.stop_reason : undefined;
          if (reason !== undefined && reason !== null) stopReason = reason;
          mergeUsage(payload.usage);
          return [];
        }
        case 'message_stop':
          return complete();
        case 'error': {
          const mapped = mapAnthropicErrorObject(undefined, payload.error);
          failure = { status: mapped.status, type: mapped.type, code: mapped.code, message: mapped.message };
          return [];
        }
        default:
          return []; // ping, and event types added after this was written
      }
    },
    finish() {
      if (completed || failure) return [];
      if (stopReason !== undefined) return complete();
      failure = {
        status: 502,
        type: 'server_error',
        code: 'upstream_stream_incomplete',
        message: 'The upstream stream ended before the response was complete.',
      };
      return [];
    },
    usage,
    error: () => failure,
  };
}
