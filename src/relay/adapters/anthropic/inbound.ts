/**
 * The inbound Anthropic endpoint: an Anthropic SDK client calls the gateway's /v1/messages and the
 * request is served by an OpenAI-format channel. Anthropic request -> OpenAI chat request, and
 * OpenAI completion / chunks / errors -> Anthropic Message / SSE events / error body.
 */

import { AdapterRequestError } from './errors.js';
import { arr, isRecord, num, parseJsonObject, str } from './guards.js';
import type {
  AnthropicContentBlockOut,
  AnthropicMessageOut,
  AnthropicStopReason,
  JsonObject,
  OpenAIUsage,
  TranslatedError,
} from './wire.js';

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/**
 * Translates an Anthropic Messages request into an OpenAI chat request (model name untouched; the
 * relay maps it). Throws AdapterRequestError for what an OpenAI channel cannot run: server tools
 * (web search, code execution...), container uploads, search results. Thinking blocks in the
 * history are dropped: they are the model's own scratch work and an OpenAI model cannot verify
 * their signatures. `top_k`, `thinking`, `output_config.effort` and `service_tier` are dropped (see below).
 */
export function anthropicToOpenAIRequest(body: Record<string, unknown>): Record<string, unknown> {
  const messages: JsonObject[] = [];
  const system = textOf(body.system, 'system');
  if (system !== '') messages.push({ role: 'system', content: system });

  (arr(body.messages) ?? []).forEach((raw, i) => {
    const path = `messages[${i}]`;
    if (!isRecord(raw)) throw new AdapterRequestError('Each message must be an object.', path);
    switch (raw.role) {
      case 'user':
        messages.push(...userMessages(raw.content, path));
        break;
      case 'assistant':
        messages.push(...assistantMessages(raw.content, path));
        break;
      // API version 2026-10-21 (@anthropic-ai/sdk 1.x) accepts system turns inside `messages`.
      case 'system': {
        const text = textOf(raw.content, `${path}.content`);
        if (text !== '') messages.push({ role: 'system', content: text });
        break;
      }
      default:
        throw new AdapterRequestError(`Message role ${JSON.stringify(raw.role)} is not supported.`, `${path}.role`);
    }
  });

  const out: Record<string, unknown> = { model: body.model, messages };
  // max_tokens rather than max_completion_tokens: every OpenAI-compatible vendor accepts it.
  const maxTokens = num(body.max_tokens);
  if (maxTokens !== undefined) out.max_tokens = maxTokens;
  const stop = arr(body.stop_sequences)?.filter((s): s is string => typeof s === 'string');
  if (stop && stop.length > 0) out.stop = stop;
  const temperature = num(body.temperature);
  if (temperature !== undefined) out.temperature = temperature;
  const topP = num(body.top_p);
  if (topP !== undefined) out.top_p = topP;
  const userId = isRecord(body.metadata) ? str(body.metadata.user_id) : undefined;
  if (userId) out.user = userId;
  if (body.stream === true) {
    out.stream = true;
    // Anthropic streams always report usage; an OpenAI upstream only does when asked.
    out.stream_options = { include_usage: true };
  }

  // Structured outputs carry over: the client relies on the schema, so a model that cannot keep to it
  // should refuse rather than answer free text. `output_config.effort` is left behind with `thinking`:
  // as reasoning_effort it would fail every OpenAI model that does not reason.
  const format = isRecord(body.output_config) && isRecord(body.output_config.format) ? body.output_config.format : undefined;
  if (format) {
    if (format.type !== 'json_schema' || !isRecord(format.schema)) {
      throw new AdapterRequestError('output_config.format must be {"type": "json_schema", "schema": {...}}.', 'output_config.format');
    }
    out.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
  }

  const tools = (arr(body.tools) ?? []).map((tool, i) => toOpenAITool(tool, `tools[${i}]`));
  if (tools.length > 0) {
    out.tools = tools;
    const choice = isRecord(body.tool_choice) ? body.tool_choice : undefined;
    switch (choice?.type) {
      case 'auto':
        out.tool_choice = 'auto';
        break;
      case 'any':
        out.tool_choice = 'required';
        break;
      case 'none':
        out.tool_choice = 'none';
        break;
      case 'tool': {
        const name = str(choice.name);
        if (!name) throw new AdapterRequestError('tool_choice of type tool needs a name.', 'tool_choice.name');
        out.tool_choice = { type: 'function', function: { name } };
        break;
      }
    }
    if (choice?.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  }
  return out;
}

/** A string, or text blocks concatenated with blank lines (system prompts, system turns). */
function textOf(content: unknown, path: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  const blocks = arr(content);
  if (!blocks) throw new AdapterRequestError('Expected a string or text blocks.', path);
  return blocks
    .map((block, j) => {
      const text = isRecord(block) && block.type === 'text' ? str(block.text) : undefined;
      if (text === undefined) throw new AdapterRequestError('Only text blocks are allowed here.', `${path}[${j}]`);
      return text;
    })
    .filter((t) => t !== '')
    .join('\n\n');
}

function imagePart(source: unknown, path: string): JsonObject {
  if (isRecord(source)) {
    const data = str(source.data);
    const mediaType = str(source.media_type);
    if (source.type === 'base64' && data && mediaType) {
      return { type: 'image_url', image_url: { url: `data:${mediaType};base64,${data}` } };
    }
    const url = str(source.url);
    if (source.type === 'url' && url) return { type: 'image_url', image_url: { url } };
  }
  throw new AdapterRequestError('Images must be base64 or url sources (file ids are not supported).', `${path}.source`);
}

function documentPart(source: unknown, path: string): JsonObject {
  if (isRecord(source)) {
    const data = str(source.data);
    if (source.type === 'base64' && source.media_type === 'application/pdf' && data) {
      return { type: 'file', file: { filename: 'document.pdf', file_data: `data:application/pdf;base64,${data}` } };
    }
    if (source.type === 'text' && data !== undefined) return { type: 'text', text: data };
  }
  throw new AdapterRequestError('Documents must be base64 PDF or plain text sources.', `${path}.source`);
}

/**
 * One Anthropic user turn can hold tool results and new input together; OpenAI wants one `tool`
 * message per result right after the assistant's tool_calls, then the user's message. Images
 * inside tool results cannot go in a tool message, so they lead the user message that follows.
 */
function userMessages(content: unknown, path: string): JsonObject[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const blocks = arr(content);
  if (!blocks) throw new AdapterRequestError('Message content must be a string or content blocks.', `${path}.content`);

  const toolMessages: JsonObject[] = [];
  const resultImages: JsonObject[] = [];
  const parts: JsonObject[] = [];
  blocks.forEach((block, j) => {
    const at = `${path}.content[${j}]`;
    if (!isRecord(block)) throw new AdapterRequestError('Each content block must be an object.', at);
    switch (block.type) {
      case 'text': {
        const text = str(block.text);
        if (text) parts.push({ type: 'text', text });
        break;
      }
      case 'image':
        parts.push(imagePart(block.source, at));
        break;
      case 'document':
        parts.push(documentPart(block.source, at));
        break;
      case 'tool_result': {
        const id = str(block.tool_use_id);
        if (!id) throw new AdapterRequestError('tool_result needs a tool_use_id.', `${at}.tool_use_id`);
        const texts: string[] = [];
        const inner = block.content;
        if (typeof inner === 'string') texts.push(inner);
        else {
          (arr(inner) ?? []).forEach((item, k) => {
            if (isRecord(item) && item.type === 'text' && typeof item.text === 'string') texts.push(item.text);
            else if (isRecord(item) && item.type === 'image') resultImages.push(imagePart(item.source, `${at}.content[${k}]`));
            else throw new AdapterRequestError('tool_result content must be text or images.', `${at}.content[${k}]`);
          });
        }
        toolMessages.push({ role: 'tool', tool_call_id: id, content: texts.join('\n') });
        break;
      }
      case 'thinking':
      case 'redacted_thinking':
        break;
      default:
        throw new AdapterRequestError(`Content block type ${JSON.stringify(block.type)} is not supported by this model.`, `${at}.type`);
    }
  });

  const all = [...resultImages, ...parts];
  if (all.length === 0) return toolMessages;
  // Plain text goes up as a string: several OpenAI-compatible vendors only accept string content.
  const userContent = all.every((p) => p.type === 'text') ? all.map((p) => p.text).join('\n') : all;
  return [...toolMessages, { role: 'user', content: userContent }];
}

function assistantMessages(content: unknown, path: string): JsonObject[] {
  if (typeof content === 'string') return [{ role: 'assistant', content }];
  const blocks = arr(content);
  if (!blocks) throw new AdapterRequestError('Message content must be a string or content blocks.', `${path}.content`);
  let text = '';
  const toolCalls: JsonObject[] = [];
  blocks.forEach((block, j) => {
    const at = `${path}.content[${j}]`;
    if (!isRecord(block)) throw new AdapterRequestError('Each content block must be an object.', at);
    switch (block.type) {
      case 'text':
        text += str(block.text) ?? '';
        break;
      case 'tool_use': {
        const id = str(block.id);
        const name = str(block.name);
        if (!id || !name) throw new AdapterRequestError('tool_use needs an id and a name.', at);
        toolCalls.push({
          id,
          type: 'function',
          function: { name, arguments: JSON.stringify(isRecord(block.input) ? block.input : {}) },
        });
        break;
      }
      case 'thinking':
      case 'redacted_thinking':
        break;
      default:
        throw new AdapterRequestError(`Content block type ${JSON.stringify(block.type)} is not supported by this model.`, `${at}.type`);
    }
  });
  const message: JsonObject = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return [message];
}

function toOpenAITool(tool: unknown, path: string): JsonObject {
  // Client tools have no type (or "custom"); anything else is a server tool Anthropic runs itself.
  if (!isRecord(tool) || (tool.type !== undefined && tool.type !== null && tool.type !== 'custom')) {
    throw new AdapterRequestError('Only custom (client) tools are supported by this model.', path);
  }
  const name = str(tool.name);
  if (!name) throw new AdapterRequestError('A tool needs a name.', `${path}.name`);
  const fn: JsonObject = { name, parameters: isRecord(tool.input_schema) ? tool.input_schema : { type: 'object', properties: {} } };
  const description = str(tool.description);
  if (description) fn.description = description;
  return { type: 'function', function: fn };
}

// ---------------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------------

export interface InboundResponseContext {
  /** Message id; prefixed with msg_ when it is not already. */
  id: string;
  /** The model name the client asked for. */
  model: string;
}

export function anthropicMessageId(id: string): string {
  return id.startsWith('msg_') ? id : `msg_${id.replace(/[^a-zA-Z0-9]/g, '')}`;
}

function stopReasonFromOpenAI(finishReason: unknown, hasToolCalls: boolean): AnthropicStopReason {
  // A call cut off by the token limit is not a call to make: its arguments are unfinished.
  if (finishReason === 'length') return 'max_tokens';
  // Some OpenAI-compatible servers report "stop" on a tool call; the calls are what matters.
  if (hasToolCalls) return 'tool_use';
  switch (finishReason) {
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

interface AnthropicUsageOut {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** OpenAI's completion_tokens_details.reasoning_tokens, where the upstream reported it. */
  output_tokens_details: { thinking_tokens: number } | null;
}

/** The inverse of usageFromAnthropic: Anthropic's input_tokens excludes cache reads and writes. */
function anthropicUsageFromOpenAI(usage: unknown): AnthropicUsageOut {
  const u = isRecord(usage) ? usage : {};
  const details = isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const cacheRead = num(details.cached_tokens) ?? 0;
  const cacheWrite = num(details.cache_write_tokens) ?? 0;
  const reasoning = isRecord(u.completion_tokens_details) ? num(u.completion_tokens_details.reasoning_tokens) : undefined;
  return {
    input_tokens: Math.max(0, (num(u.prompt_tokens) ?? 0) - cacheRead - cacheWrite),
    output_tokens: num(u.completion_tokens) ?? 0,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    output_tokens_details: reasoning === undefined ? null : { thinking_tokens: reasoning },
  };
}

function openAIUsage(u: JsonObject): OpenAIUsage {
  const prompt = num(u.prompt_tokens) ?? 0;
  const completion = num(u.completion_tokens) ?? 0;
  const usage: OpenAIUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: num(u.total_tokens) ?? prompt + completion };
  const details = isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details : undefined;
  if (details) {
    const cached = num(details.cached_tokens);
    const written = num(details.cache_write_tokens);
    usage.prompt_tokens_details = {
      ...(cached !== undefined ? { cached_tokens: cached } : {}),
      ...(written !== undefined ? { cache_write_tokens: written } : {}),
    };
  }
  const reasoning = isRecord(u.completion_tokens_details) ? num(u.completion_tokens_details.reasoning_tokens) : undefined;
  if (reasoning !== undefined) usage.completion_tokens_details = { reasoning_tokens: reasoning };
  return usage;
}

/**
 * The Message envelope. The null fields are the ones @anthropic-ai/sdk 1.14.0's `Message` type
 * declares as required-but-nullable (container, stop_details, diagnostics, usage extras); sending
 * them keeps typed clients on the current API version exact, and older clients ignore them.
 */
function messageEnvelope(
  id: string,
  model: string,
  content: AnthropicContentBlockOut[],
  stopReason: AnthropicStopReason | null,
  usage: AnthropicUsageOut,
): AnthropicMessageOut {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: {
      ...usage,
      cache_creation: null,
      inference_geo: null,
      server_tool_use: null,
      service_tier: null,
      speed: null,
    },
  };
}

/**
 * The reasoning an OpenAI-compatible model showed (DeepSeek's and vLLM's `reasoning_content`, OpenRouter's
 * and newer vLLM's `reasoning`), which Anthropic clients read as thinking.
 */
function reasoningOf(message: JsonObject): string {
  return str(message.reasoning_content) || str(message.reasoning) || '';
}

/**
 * OpenAI chat.completion -> Anthropic Message: a thinking block for the model's reasoning (with an empty
 * signature: there is none to give, and handed back it is dropped, see above), then text and tool_use blocks.
 */
export function openAIToAnthropicResponse(completion: unknown, ctx: InboundResponseContext): AnthropicMessageOut {
  const c = isRecord(completion) ? completion : {};
  const choice = arr(c.choices)?.[0];
  const message = isRecord(choice) && isRecord(choice.message) ? choice.message : {};
  const content: AnthropicContentBlockOut[] = [];
  const reasoning = reasoningOf(message);
  if (reasoning !== '') content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  // A structured-output refusal is what the model said, so it becomes the text.
  const text = str(message.content) || str(message.refusal) || '';
  if (text !== '') content.push({ type: 'text', text, citations: null });
  const toolCalls = arr(message.tool_calls) ?? [];
  for (const call of toolCalls) {
    if (!isRecord(call) || !isRecord(call.function)) continue;
    content.push({
      type: 'tool_use',
      id: str(call.id) ?? '',
      name: str(call.function.name) ?? '',
      // Anthropic clients expect the parsed object; malformed arguments become {} rather than a crash.
      input: parseJsonObject(str(call.function.arguments) ?? '') ?? {},
      caller: { type: 'direct' },
    });
  }
  const stopReason = stopReasonFromOpenAI(isRecord(choice) ? choice.finish_reason : undefined, content.some((b) => b.type === 'tool_use'));
  return messageEnvelope(anthropicMessageId(ctx.id), ctx.model, content, stopReason, anthropicUsageFromOpenAI(c.usage));
}

// ---------------------------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------------------------

export interface AnthropicSseEvent {
  event: string;
  data: JsonObject;
}

export interface InboundStreamContext extends InboundResponseContext {
  /** Estimated prompt tokens for message_start; message_delta later carries the upstream's count. */
  inputTokens?: number;
  /** The gateway's count of what was said, for message_delta when the upstream reported no usage. */
  outputTokens?: () => number;
}

export interface OpenAIToAnthropicStreamTranslator {
  /** One OpenAI SSE `data:` payload (JSON text or "[DONE]") or an already-parsed chunk. */
  push(chunk: string | JsonObject): AnthropicSseEvent[];
  /** Call when the upstream ended: closes the message, or emits an error event if it was cut short. */
  finish(): AnthropicSseEvent[];
  /** The upstream's usage chunk (OpenAI format, for settlement), or null if none came. */
  usage(): OpenAIUsage | null;
  error(): TranslatedError | null;
}

/**
 * Emits Anthropic's event order: message_start, then for each block content_block_start (a ping
 * after the first one, where Anthropic sends it), content_block_delta..., content_block_stop, then
 * message_delta (stop_reason, usage) and message_stop. Text and each tool call get their own block;
 * a block is closed when the next one opens, since Anthropic never interleaves blocks. So while one tool
 * call streams, the fragments of any other (a server streaming parallel calls side by side) are held, as is
 * text or reasoning, and each of those goes out whole once the calls are over: a closed block never gets more
 * input.
 */
export function createOpenAIToAnthropicStreamTranslator(ctx: InboundStreamContext): OpenAIToAnthropicStreamTranslator {
  const messageId = anthropicMessageId(ctx.id);
  let started = false;
  let pingSent = false;
  let ended = false;
  let nextIndex = 0;
  let open: { kind: 'text' | 'thinking' | 'tool'; index: number } | null = null;
  /** The OpenAI tool_calls[].index of the call whose block is open, and the others' parts, held in arrival order. */
  let streamingCall: number | null = null;
  const heldCalls = new Map<number, { id: string; name: string; args: string }>();
  let heldReasoning = '';
  let heldText = '';
  let finishReason: unknown = null;
  let sawToolCall = false;
  let upstreamUsage: OpenAIUsage | null = null;
  let failure: TranslatedError | null = null;

  function start(events: AnthropicSseEvent[]): void {
    if (started) return;
    started = true;
    const usage: AnthropicUsageOut = { input_tokens: ctx.inputTokens ?? 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens_details: null };
    const message: JsonObject = { ...messageEnvelope(messageId, ctx.model, [], null, usage) };
    events.push({ event: 'message_start', data: { type: 'message_start', message } });
  }

  function closeOpen(events: AnthropicSseEvent[]): void {
    if (!open) return;
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index: open.index } });
    open = null;
  }

  function inputDelta(events: AnthropicSseEvent[], index: number, partial: string): void {
    events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partial } } });
  }

  function toolBlock(id: string, name: string): JsonObject {
    return { type: 'tool_use', id, name, input: {}, caller: { type: 'direct' } };
  }

  /** One OpenAI tool_calls[] fragment: streamed into the open call's block, or held if another call streams. */
  function toolFragment(events: AnthropicSseEvent[], call: JsonObject): void {
    const fn = isRecord(call.function) ? call.function : {};
    const openaiIndex = num(call.index) ?? 0;
    const args = str(fn.arguments) ?? '';
    sawToolCall = true;
    if (openaiIndex === streamingCall && open?.kind === 'tool') {
      if (args) inputDelta(events, open.index, args);
      return;
    }
    const held = heldCalls.get(openaiIndex);
    if (held) {
      held.args += args;
      return;
    }
    const id = str(call.id) ?? `toolu_${messageId.slice(4)}_${openaiIndex}`;
    const name = str(fn.name) ?? '';
    if (streamingCall !== null) {
      heldCalls.set(openaiIndex, { id, name, args });
      return;
    }
    streamingCall = openaiIndex;
    const index = openBlock(events, toolBlock(id, name));
    if (args) inputDelta(events, index, args);
  }

  /** The calls held back, each as one whole block, after the streamed one closed. */
  function releaseHeldCalls(events: AnthropicSseEvent[]): void {
    for (const held of heldCalls.values()) {
      const index = openBlock(events, toolBlock(held.id, held.name));
      if (held.args) inputDelta(events, index, held.args);
    }
    heldCalls.clear();
    // What came between the calls; whitespace alone (some servers' tool-call parsers leave it) is not a block.
    if (heldReasoning.trim()) thinkingDelta(events, heldReasoning);
    if (heldText.trim()) textDelta(events, heldText);
    heldReasoning = '';
    heldText = '';
    closeOpen(events);
  }

  function thinkingDelta(events: AnthropicSseEvent[], thinking: string): void {
    const index = open?.kind === 'thinking' ? open.index : openBlock(events, { type: 'thinking', thinking: '', signature: '' });
    events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking } } });
  }

  function textDelta(events: AnthropicSseEvent[], text: string): void {
    const index = open?.kind === 'text' ? open.index : openBlock(events, { type: 'text', text: '', citations: null });
    events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text } } });
  }

  function openBlock(events: AnthropicSseEvent[], block: JsonObject): number {
    closeOpen(events);
    const index = nextIndex++;
    events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: block } });
    if (!pingSent) {
      pingSent = true;
      events.push({ event: 'ping', data: { type: 'ping' } });
    }
    open = { kind: block.type === 'text' || block.type === 'thinking' ? block.type : 'tool', index };
    return index;
  }

  function fail(error: TranslatedError, anthropicType: string): AnthropicSseEvent[] {
    failure = error;
    ended = true;
    return [{ event: 'error', data: { type: 'error', error: { type: anthropicType, message: error.message } } }];
  }

  function complete(): AnthropicSseEvent[] {
    const events: AnthropicSseEvent[] = [];
    start(events);
    releaseHeldCalls(events);
    ended = true;
    const usage = anthropicUsageFromOpenAI(upstreamUsage);
    events.push({
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: stopReasonFromOpenAI(finishReason, sawToolCall), stop_sequence: null },
        // Cumulative totals; SDKs overwrite the message_start values with any that are present.
        usage: {
          input_tokens: upstreamUsage ? usage.input_tokens : (ctx.inputTokens ?? 0),
          output_tokens: upstreamUsage ? usage.output_tokens : (ctx.outputTokens?.() ?? 0),
          cache_creation_input_tokens: usage.cache_creation_input_tokens,
          cache_read_input_tokens: usage.cache_read_input_tokens,
          output_tokens_details: usage.output_tokens_details,
        },
      },
    });
    events.push({ event: 'message_stop', data: { type: 'message_stop' } });
    return events;
  }

  function cut(): AnthropicSseEvent[] {
    return fail(
      { status: 502, type: 'server_error', code: 'upstream_stream_incomplete', message: 'The upstream stream ended before the response was complete.' },
      'api_error',
    );
  }

  return {
    push(raw) {
      if (ended) return [];
      let chunk: JsonObject | undefined;
      if (typeof raw === 'string') {
        if (raw.trim() === '[DONE]') return complete();
        chunk = parseJsonObject(raw);
        if (!chunk) {
          return fail(
            { status: 502, type: 'server_error', code: 'upstream_bad_stream', message: 'The upstream provider sent a malformed stream event.' },
            'api_error',
          );
        }
      } else chunk = raw;

      if (isRecord(chunk.error)) {
        const message = str(chunk.error.message) ?? 'The upstream provider reported an error.';
        const body = openAIErrorToAnthropic(0, { message, type: str(chunk.error.type) });
        return fail({ status: 502, type: 'server_error', code: 'upstream_stream_error', message }, body.error.type);
      }

      const events: AnthropicSseEvent[] = [];
      start(events);
      if (isRecord(chunk.usage)) upstreamUsage = openAIUsage(chunk.usage);

      const choice = arr(chunk.choices)?.find((c) => isRecord(c) && (c.index ?? 0) === 0);
      if (!isRecord(choice)) return events;
      const delta = isRecord(choice.delta) ? choice.delta : {};

      // Once calls stream, reasoning and text would close the open call's block: they wait for the calls' end.
      const reasoning = reasoningOf(delta);
      if (reasoning && streamingCall !== null) heldReasoning += reasoning;
      else if (reasoning) thinkingDelta(events, reasoning);

      const text = str(delta.content);
      if (text && streamingCall !== null) heldText += text;
      else if (text) textDelta(events, text);

      for (const call of arr(delta.tool_calls) ?? []) if (isRecord(call)) toolFragment(events, call);

      if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
        finishReason = choice.finish_reason;
        releaseHeldCalls(events);
      }
      return events;
    },
    finish() {
      if (ended) return [];
      // Without [DONE] a finish_reason still means the answer is whole (usage may simply be absent).
      return finishReason !== null ? complete() : cut();
    },
    usage: () => upstreamUsage,
    error: () => failure,
  };
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string };
}

const OPENAI_TYPE_TO_ANTHROPIC: Record<string, string> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  not_found_error: 'not_found_error',
  rate_limit_error: 'rate_limit_error',
  rate_limit_exceeded: 'rate_limit_error',
  requests: 'rate_limit_error',
  tokens: 'rate_limit_error',
  insufficient_quota: 'billing_error',
};

/**
 * The gateway's OpenAI-shaped error -> Anthropic's error body, typed by status (the types and
 * statuses of docs.claude.com/en/api/errors). The message is the gateway's own, already safe.
 */
export function openAIErrorToAnthropic(status: number, error: { message: string; type?: string | undefined }): AnthropicErrorBody {
  let type: string;
  switch (status) {
    case 400:
      type = 'invalid_request_error';
      break;
    case 401:
      type = 'authentication_error';
      break;
    case 402:
      type = 'billing_error';
      break;
    case 403:
      type = 'permission_error';
      break;
    case 404:
      type = 'not_found_error';
      break;
    case 408:
    case 504:
      type = 'timeout_error';
      break;
    case 413:
      type = 'request_too_large';
      break;
    case 429:
      type = 'rate_limit_error';
      break;
    case 503:
    case 529:
      type = 'overloaded_error';
      break;
    default:
      if (status >= 400 && status < 500) type = 'invalid_request_error';
      else if (status >= 500) type = 'api_error';
      else type = error.type && Object.hasOwn(OPENAI_TYPE_TO_ANTHROPIC, error.type) ? (OPENAI_TYPE_TO_ANTHROPIC[error.type] ?? 'api_error') : 'api_error';
  }
  return { type: 'error', error: { type, message: error.message } };
}
