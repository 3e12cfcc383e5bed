/** Anthropic Message -> OpenAI chat.completion, plus the stop-reason and usage maps the stream shares. */

import { arr, isRecord, num, str } from './guards.js';
import type { JsonObject, OpenAIChatCompletion, OpenAIFinishReason, OpenAIThinkingBlock, OpenAIToolCall, OpenAIUsage } from './wire.js';

export interface ResponseContext {
  /** The id the client sees (chatcmpl-...), chosen by the relay. */
  id: string;
  /** The model name the client sees (usually the one it asked for, before model_mapping). */
  model: string;
  /** Unix seconds. */
  created: number;
}

/**
 * pause_turn (a server tool loop paused) has no OpenAI counterpart; the turn did end, so "stop".
 * model_context_window_exceeded is a length stop. A missing reason (cut stream) reads as "stop".
 */
export function finishReasonFromAnthropic(stopReason: unknown): OpenAIFinishReason {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default: // end_turn, stop_sequence, pause_turn
      return 'stop';
  }
}

/**
 * Anthropic's input_tokens excludes cached tokens, so OpenAI's prompt_tokens is the sum of the three
 * input counters; cache reads are OpenAI's cached_tokens and cache writes go in cache_write_tokens
 * (the field openai 6.49.0 declares), so billing can price them differently.
 */
export function usageFromAnthropic(usage: unknown): OpenAIUsage {
  const u = isRecord(usage) ? usage : {};
  const cacheRead = num(u.cache_read_input_tokens) ?? 0;
  const cacheWrite = num(u.cache_creation_input_tokens) ?? 0;
  const prompt = (num(u.input_tokens) ?? 0) + cacheRead + cacheWrite;
  const completion = num(u.output_tokens) ?? 0;
  const out: OpenAIUsage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cacheRead, cache_write_tokens: cacheWrite },
  };
  const thinking = isRecord(u.output_tokens_details) ? num(u.output_tokens_details.thinking_tokens) : undefined;
  if (thinking !== undefined) out.completion_tokens_details = { reasoning_tokens: thinking };
  return out;
}

/**
 * A thinking block as OpenAI-format clients get it back: the text goes in `reasoning_content` (the field
 * DeepSeek, LiteLLM and New-API use), the block itself in `thinking_blocks` so the client can hand it back
 * (see request.ts). Anything that is not a thinking block is undefined.
 */
function thinkingBlockOut(block: JsonObject): OpenAIThinkingBlock | undefined {
  if (block.type === 'thinking') return { type: 'thinking', thinking: str(block.thinking) ?? '', signature: str(block.signature) ?? '' };
  if (block.type === 'redacted_thinking') return { type: 'redacted_thinking', data: str(block.data) ?? '' };
  return undefined;
}

/**
 * Translates a non-stream Anthropic Message. Text blocks are concatenated; tool_use blocks become
 * tool_calls (arguments re-serialised as a JSON string); thinking becomes `reasoning_content` and
 * `thinking_blocks`, as the stream translator sends it; server tool blocks (web search, code execution)
 * are dropped.
 */
export function fromAnthropicResponse(msg: unknown, ctx: ResponseContext): OpenAIChatCompletion {
  const m = isRecord(msg) ? msg : {};
  let text = '';
  let reasoning = '';
  const toolCalls: OpenAIToolCall[] = [];
  const thinkingBlocks: OpenAIThinkingBlock[] = [];
  for (const block of arr(m.content) ?? []) {
    if (!isRecord(block)) continue;
    const thinking = thinkingBlockOut(block);
    if (thinking) {
      thinkingBlocks.push(thinking);
      if (thinking.type === 'thinking') reasoning += thinking.thinking;
    } else if (block.type === 'text') text += str(block.text) ?? '';
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: str(block.id) ?? '',
        type: 'function',
        function: { name: str(block.name) ?? '', arguments: JSON.stringify(isRecord(block.input) ? block.input : {}) },
      });
    }
  }
  const message: OpenAIChatCompletion['choices'][number]['message'] = {
    role: 'assistant',
    // OpenAI sends null content on a tool-call-only answer.
    content: text === '' && toolCalls.length > 0 ? null : text,
    refusal: null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (thinkingBlocks.length > 0) {
    message.reasoning_content = reasoning;
    message.thinking_blocks = thinkingBlocks;
  }
  return {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonFromAnthropic(m.stop_reason) }],
    usage: usageFromAnthropic(m.usage),
  };
}
