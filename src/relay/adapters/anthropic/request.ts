/** OpenAI chat.completions request body -> Anthropic Messages API request body, and the headers. */

import { AdapterRequestError } from './errors.js';
import { arr, isRecord, num, parseJsonObject, str } from './guards.js';
import type {
  AnthropicBlockParam,
  AnthropicImageBlockParam,
  AnthropicImageMediaType,
  AnthropicEffort,
  AnthropicMessageParam,
  AnthropicOutputConfig,
  AnthropicTextBlockParam,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicToolResultBlockParam,
  AnthropicToolUseBlockParam,
  JsonObject,
} from './wire.js';

/**
 * The API version the gateway pins. The installed @anthropic-ai/sdk 1.14.0 sends 2026-10-21, whose
 * request type no longer has temperature/top_p; 2023-06-01 is the version every Anthropic-compatible
 * endpoint accepts and the one whose request shape this translator writes.
 */
export const ANTHROPIC_DEFAULT_VERSION = '2023-06-01';

export function anthropicHeaders(apiKey: string, version: string = ANTHROPIC_DEFAULT_VERSION): Record<string, string> {
  return { 'x-api-key': apiKey, 'anthropic-version': version, 'content-type': 'application/json' };
}

export interface AnthropicRequestOptions {
  /** The upstream model name, after the channel's model_mapping. */
  model: string;
  /** Anthropic requires max_tokens; used when the client sent neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens: number;
}

/**
 * Translates an OpenAI chat request. Throws AdapterRequestError (a 400 for the client) for content
 * Anthropic cannot express: audio parts, file ids, custom tools, n > 1, unknown roles. Fields with no
 * Anthropic counterpart that only tune sampling or output (frequency/presence penalties, logit_bias,
 * logprobs, seed, a json_object response_format, service_tier, stream_options, ...) are dropped.
 */
export function toAnthropicRequest(body: Record<string, unknown>, opts: AnthropicRequestOptions): Record<string, unknown> {
  const n = num(body.n);
  if (n !== undefined && n > 1) throw new AdapterRequestError('n > 1 is not supported for this model.', 'n');

  const system: string[] = [];
  const turns: AnthropicMessageParam[] = [];
  (arr(body.messages) ?? []).forEach((raw, i) => {
    const path = `messages[${i}]`;
    if (!isRecord(raw)) throw new AdapterRequestError('Each message must be an object.', path);
    switch (raw.role) {
      // Anthropic has one top-level system prompt; system and developer messages anywhere in the
      // conversation are hoisted into it in order.
      case 'system':
      case 'developer':
        system.push(...systemTexts(raw.content, path));
        break;
      case 'user':
        appendTurn(turns, 'user', userContent(raw.content, path));
        break;
      case 'assistant':
        appendTurn(turns, 'assistant', assistantContent(raw, path));
        break;
      case 'tool':
        appendTurn(turns, 'user', [toolResult(raw, path)]);
        break;
      default:
        throw new AdapterRequestError(`Message role ${JSON.stringify(raw.role)} is not supported for this model.`, `${path}.role`);
    }
  });
  // Anthropic refuses an empty conversation with a message that would not say which of ours was missing.
  if (turns.length === 0) throw new AdapterRequestError('This model needs at least one user or assistant message besides system messages.', 'messages');
  for (const turn of turns) orderToolResultsFirst(turn);

  const out: Record<string, unknown> = {
    model: opts.model,
    messages: turns,
    max_tokens: num(body.max_completion_tokens) ?? num(body.max_tokens) ?? opts.defaultMaxTokens,
  };
  if (system.length === 1) out.system = system[0];
  else if (system.length > 1) out.system = system.map((text): AnthropicTextBlockParam => ({ type: 'text', text }));

  const stop = stopSequences(body.stop);
  if (stop.length > 0) out.stop_sequences = stop;

  // Anthropic's temperature range is 0..1 (OpenAI's is 0..2). Claude models since Opus 4.1 reject a
  // request that sets both temperature and top_p ("cannot both be specified for this model"), and
  // OpenAI clients often send both, so top_p only goes up when temperature does not.
  const temperature = num(body.temperature);
  const topP = num(body.top_p);
  if (temperature !== undefined) out.temperature = Math.min(1, Math.max(0, temperature));
  else if (topP !== undefined) out.top_p = topP;

  if (typeof body.stream === 'boolean') out.stream = body.stream;

  const userId = str(body.user) ?? str(body.safety_identifier);
  if (userId) out.metadata = { user_id: userId };

  const outputConfig = convertOutputConfig(body.response_format, body.reasoning_effort);
  if (outputConfig) out.output_config = outputConfig;
  if (body.reasoning_effort === 'none') out.thinking = { type: 'disabled' };

  const tools = convertTools(body.tools);
  if (tools.length > 0) {
    out.tools = tools;
    const choice = convertToolChoice(body.tool_choice, body.parallel_tool_calls);
    if (choice) out.tool_choice = choice;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

function toBlocks(content: string | AnthropicBlockParam[]): AnthropicBlockParam[] {
  if (typeof content !== 'string') return content;
  return content === '' ? [] : [{ type: 'text', text: content }];
}

/**
 * Anthropic requires user and assistant turns to alternate, so a turn with the same role as the
 * previous one is merged into it (two user messages, or tool results followed by a user message).
 * Empty content is dropped: Anthropic rejects empty text blocks and empty non-final turns.
 */
function appendTurn(turns: AnthropicMessageParam[], role: 'user' | 'assistant', content: string | AnthropicBlockParam[]): void {
  if (content.length === 0) return;
  const last = turns.at(-1);
  if (last && last.role === role) last.content = [...toBlocks(last.content), ...toBlocks(content)];
  else turns.push({ role, content });
}

/** Anthropic requires tool_result blocks to come before any other block in their user turn. */
function orderToolResultsFirst(turn: AnthropicMessageParam): void {
  if (turn.role !== 'user' || typeof turn.content === 'string') return;
  const results = turn.content.filter((b) => b.type === 'tool_result');
  if (results.length === 0 || results.length === turn.content.length) return;
  turn.content = [...results, ...turn.content.filter((b) => b.type !== 'tool_result')];
}

function systemTexts(content: unknown, path: string): string[] {
  if (typeof content === 'string') return content === '' ? [] : [content];
  const parts = arr(content);
  if (!parts) throw new AdapterRequestError('System message content must be a string or text parts.', `${path}.content`);
  const texts: string[] = [];
  parts.forEach((part, j) => {
    const text = isRecord(part) && part.type === 'text' ? str(part.text) : undefined;
    if (text === undefined) throw new AdapterRequestError('System messages may only contain text parts.', `${path}.content[${j}]`);
    if (text !== '') texts.push(text);
  });
  return texts;
}

function userContent(content: unknown, path: string): string | AnthropicBlockParam[] {
  if (typeof content === 'string') return content;
  if (content === undefined || content === null) return [];
  const parts = arr(content);
  if (!parts) throw new AdapterRequestError('Message content must be a string or an array of parts.', `${path}.content`);
  const blocks: AnthropicBlockParam[] = [];
  parts.forEach((part, j) => {
    const block = userPart(part, `${path}.content[${j}]`);
    if (block) blocks.push(block);
  });
  return blocks;
}

function userPart(part: unknown, path: string): AnthropicBlockParam | undefined {
  if (!isRecord(part)) throw new AdapterRequestError('Each content part must be an object.', path);
  switch (part.type) {
    case 'text': {
      const text = str(part.text);
      if (text === undefined) throw new AdapterRequestError('A text part needs a string `text`.', `${path}.text`);
      return text === '' ? undefined : { type: 'text', text };
    }
    case 'image_url':
      return imageBlock(part.image_url, `${path}.image_url`);
    case 'file':
      return documentBlock(part.file, `${path}.file`);
    default:
      throw new AdapterRequestError(`Content part type ${JSON.stringify(part.type)} is not supported for this model.`, `${path}.type`);
  }
}

const IMAGE_MEDIA_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** Splits `data:<media>[;params];base64,<data>` without a regex: the payload can be megabytes. */
function parseBase64DataUrl(url: string): { mediaType: string; data: string } | undefined {
  const comma = url.indexOf(',');
  if (!url.startsWith('data:') || comma < 0) return undefined;
  const [mediaType = '', ...params] = url.slice(5, comma).split(';');
  if (!params.some((p) => p.trim().toLowerCase() === 'base64')) return undefined;
  return { mediaType: mediaType.trim().toLowerCase(), data: url.slice(comma + 1) };
}

function imageBlock(imageUrl: unknown, path: string): AnthropicImageBlockParam {
  // The spec says {url, detail}; some clients send the URL string directly.
  const url = typeof imageUrl === 'string' ? imageUrl : isRecord(imageUrl) ? str(imageUrl.url) : undefined;
  if (!url) throw new AdapterRequestError('An image_url part needs a url.', path);
  if (url.startsWith('data:')) {
    const parsed = parseBase64DataUrl(url);
    if (!parsed) throw new AdapterRequestError('Image data URLs must be base64 encoded.', `${path}.url`);
    const mediaType = parsed.mediaType === 'image/jpg' ? 'image/jpeg' : parsed.mediaType;
    if (!IMAGE_MEDIA_TYPES.has(mediaType)) {
      throw new AdapterRequestError('Images must be JPEG, PNG, GIF or WebP for this model.', `${path}.url`);
    }
    return { type: 'image', source: { type: 'base64', media_type: mediaType as AnthropicImageMediaType, data: parsed.data } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw new AdapterRequestError('Image URLs must be http(s) or base64 data URLs.', `${path}.url`);
}

/** OpenAI `file` parts carrying an inline PDF become Anthropic document blocks; file ids cannot. */
function documentBlock(file: unknown, path: string): AnthropicBlockParam {
  const data = isRecord(file) ? str(file.file_data) : undefined;
  if (data) {
    const parsed = data.startsWith('data:') ? parseBase64DataUrl(data) : { mediaType: 'application/pdf', data };
    if (parsed && parsed.mediaType === 'application/pdf') {
      return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: parsed.data } };
    }
  }
  throw new AdapterRequestError('Only inline PDF files (file_data) are supported for this model.', path);
}

/** Anthropic tool ids must match ^[a-zA-Z0-9_-]+$; some OpenAI-compatible vendors use `:` or `.`. */
function toolId(id: string): string {
  return id.replace(/[^a-zA-Z0-9_-]/g, '_');
}

function assistantContent(msg: JsonObject, path: string): string | AnthropicBlockParam[] {
  const toolCalls = arr(msg.tool_calls) ?? [];
  const content = msg.content;
  const blocks: AnthropicBlockParam[] = thinkingBlocks(msg.thinking_blocks);
  if (typeof content === 'string' && toolCalls.length === 0 && blocks.length === 0) return content;
  if (typeof content === 'string') {
    if (content !== '') blocks.push({ type: 'text', text: content });
  } else if (Array.isArray(content)) {
    content.forEach((part, j) => {
      // Assistant parts are text or refusal; a refusal is what the model said, so it stays text.
      const text = isRecord(part) ? (part.type === 'text' ? str(part.text) : part.type === 'refusal' ? str(part.refusal) : undefined) : undefined;
      if (text === undefined) throw new AdapterRequestError('Assistant content parts must be text or refusal.', `${path}.content[${j}]`);
      if (text !== '') blocks.push({ type: 'text', text });
    });
  } else if (content !== undefined && content !== null) {
    throw new AdapterRequestError('Assistant content must be a string, parts or null.', `${path}.content`);
  }
  toolCalls.forEach((call, k) => blocks.push(toolUse(call, `${path}.tool_calls[${k}]`)));
  return blocks;
}

/**
 * The thinking blocks of an earlier answer, as the gateway (and LiteLLM) hand them out in
 * `message.thinking_blocks`. With thinking on, Anthropic wants them back, signature intact, at the head
 * of the assistant turn that called tools; a block without its signature cannot be verified and is left out.
 */
function thinkingBlocks(value: unknown): AnthropicBlockParam[] {
  const blocks: AnthropicBlockParam[] = [];
  for (const block of arr(value) ?? []) {
    if (!isRecord(block)) continue;
    const signature = str(block.signature);
    const data = str(block.data);
    if (block.type === 'thinking' && signature) blocks.push({ type: 'thinking', thinking: str(block.thinking) ?? '', signature });
    else if (block.type === 'redacted_thinking' && data) blocks.push({ type: 'redacted_thinking', data });
  }
  return blocks;
}

function toolUse(call: unknown, path: string): AnthropicToolUseBlockParam {
  const fn = isRecord(call) && (call.type === undefined || call.type === 'function') ? call.function : undefined;
  const name = isRecord(fn) ? str(fn.name) : undefined;
  const id = isRecord(call) ? str(call.id) : undefined;
  if (!isRecord(fn) || !name || !id) {
    throw new AdapterRequestError('Tool calls must be function calls with an id and a name.', path);
  }
  // Anthropic wants the parsed input object; arguments that are not a JSON object (a model can emit
  // truncated JSON when it hit max_tokens) become {} rather than failing the whole conversation.
  const input = parseJsonObject(str(fn.arguments) ?? '') ?? {};
  return { type: 'tool_use', id: toolId(id), name, input };
}

function toolResult(msg: JsonObject, path: string): AnthropicToolResultBlockParam {
  const id = str(msg.tool_call_id);
  if (!id) throw new AdapterRequestError('A tool message needs a tool_call_id.', `${path}.tool_call_id`);
  const block: AnthropicToolResultBlockParam = { type: 'tool_result', tool_use_id: toolId(id) };
  const content = msg.content;
  if (typeof content === 'string') {
    if (content !== '') block.content = content;
  } else if (Array.isArray(content)) {
    const texts: AnthropicTextBlockParam[] = [];
    content.forEach((part, j) => {
      const text = isRecord(part) && part.type === 'text' ? str(part.text) : undefined;
      if (text === undefined) throw new AdapterRequestError('Tool message parts must be text.', `${path}.content[${j}]`);
      if (text !== '') texts.push({ type: 'text', text });
    });
    if (texts.length > 0) block.content = texts;
  }
  return block;
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

/** Anthropic rejects empty and whitespace-only stop sequences ("each stop sequence must contain non-whitespace"). */
function stopSequences(stop: unknown): string[] {
  const list = typeof stop === 'string' ? [stop] : (arr(stop) ?? []);
  return list.filter((s): s is string => typeof s === 'string' && s.trim() !== '');
}

/** OpenAI's effort levels on Anthropic's scale; `none` turns thinking off instead (see the caller). */
const EFFORT: Readonly<Record<string, AnthropicEffort>> = { minimal: 'low', low: 'low', medium: 'medium', high: 'high', xhigh: 'xhigh' };

/**
 * `reasoning_effort` becomes `output_config.effort` and a json_schema `response_format` becomes
 * `output_config.format` (structured outputs): the model is held to the schema, as on OpenAI. A model
 * without these features answers Anthropic's 400, as OpenAI does for a parameter its model lacks.
 */
function convertOutputConfig(responseFormat: unknown, reasoningEffort: unknown): AnthropicOutputConfig | undefined {
  const config: AnthropicOutputConfig = {};
  const effort = typeof reasoningEffort === 'string' && Object.hasOwn(EFFORT, reasoningEffort) ? EFFORT[reasoningEffort] : undefined;
  if (effort) config.effort = effort;
  if (isRecord(responseFormat) && responseFormat.type === 'json_schema') {
    const schema = isRecord(responseFormat.json_schema) && isRecord(responseFormat.json_schema.schema) ? responseFormat.json_schema.schema : undefined;
    if (!schema) throw new AdapterRequestError('A json_schema response_format needs json_schema.schema, a JSON Schema object.', 'response_format.json_schema.schema');
    config.format = { type: 'json_schema', schema };
  }
  return config.effort || config.format ? config : undefined;
}

function convertTools(tools: unknown): AnthropicTool[] {
  return (arr(tools) ?? []).map((tool, i) => {
    const fn = isRecord(tool) && tool.type === 'function' ? tool.function : undefined;
    const name = isRecord(fn) ? str(fn.name) : undefined;
    if (!isRecord(fn) || !name) throw new AdapterRequestError('Only function tools are supported for this model.', `tools[${i}]`);
    const params = isRecord(fn.parameters) ? fn.parameters : undefined;
    // input_schema must be an object schema; OpenAI allows omitting parameters for no-arg functions.
    const inputSchema: JsonObject = params
      ? params.type === undefined
        ? { type: 'object', ...params }
        : params
      : { type: 'object', properties: {} };
    const description = str(fn.description);
    return description ? { name, description, input_schema: inputSchema } : { name, input_schema: inputSchema };
  });
}

function convertToolChoice(choice: unknown, parallelToolCalls: unknown): AnthropicToolChoice | undefined {
  let out: AnthropicToolChoice | undefined;
  if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'none') out = { type: 'none' };
  else if (choice === 'required') out = { type: 'any' };
  else if (isRecord(choice)) {
    const name = choice.type === 'function' && isRecord(choice.function) ? str(choice.function.name) : undefined;
    if (name) out = { type: 'tool', name };
    // allowed_tools narrows the set; Anthropic cannot, so only its mode carries over.
    else if (choice.type === 'allowed_tools' && isRecord(choice.allowed_tools)) {
      out = { type: choice.allowed_tools.mode === 'required' ? 'any' : 'auto' };
    } else throw new AdapterRequestError('This tool_choice is not supported for this model.', 'tool_choice');
  } else if (choice !== undefined && choice !== null) {
    throw new AdapterRequestError('This tool_choice is not supported for this model.', 'tool_choice');
  }

  if (parallelToolCalls === false) {
    if (!out) out = { type: 'auto', disable_parallel_tool_use: true };
    else if (out.type !== 'none') out = { ...out, disable_parallel_tool_use: true };
  }
  return out;
}
