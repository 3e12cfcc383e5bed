/**
 * Narrow wire-format types for the Anthropic Messages API and the OpenAI chat.completions shapes the
 * Anthropic adapters read and write. Only the fields the translators touch are declared; everything
 * is plain JSON. Field names follow the installed SDKs' .d.ts files (@anthropic-ai/sdk 1.14.0
 * resources/messages/messages.d.ts, openai 6.49.0 resources/chat/completions/completions.d.ts).
 */

/** A parsed JSON object whose fields have not been checked yet. */
export type JsonObject = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------------------------

export type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

export interface AnthropicTextBlockParam {
  type: 'text';
  text: string;
}

export type AnthropicImageSource =
  | { type: 'base64'; media_type: AnthropicImageMediaType; data: string }
  | { type: 'url'; url: string };

export type AnthropicImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

export interface AnthropicImageBlockParam {
  type: 'image';
  source: AnthropicImageSource;
}

export interface AnthropicDocumentBlockParam {
  type: 'document';
  source: { type: 'base64'; media_type: 'application/pdf'; data: string };
}

export interface AnthropicToolUseBlockParam {
  type: 'tool_use';
  id: string;
  name: string;
  input: JsonObject;
}

export interface AnthropicToolResultBlockParam {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<AnthropicTextBlockParam | AnthropicImageBlockParam>;
  is_error?: boolean;
}

/** A thinking block handed back with its signature, or a redacted one with its encrypted data. */
export type AnthropicThinkingBlockParam = { type: 'thinking'; thinking: string; signature: string } | { type: 'redacted_thinking'; data: string };

export type AnthropicBlockParam =
  | AnthropicThinkingBlockParam
  | AnthropicTextBlockParam
  | AnthropicImageBlockParam
  | AnthropicDocumentBlockParam
  | AnthropicToolUseBlockParam
  | AnthropicToolResultBlockParam;

export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: string | AnthropicBlockParam[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: JsonObject;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export type AnthropicEffort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface AnthropicOutputConfig {
  effort?: AnthropicEffort;
  format?: { type: 'json_schema'; schema: JsonObject };
}

/** Usage as it appears in a Message and in message_start (message_delta carries a partial copy). */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Response-side blocks as the inbound endpoint writes them (API version 2026-10-21 shapes). */
export type AnthropicContentBlockOut =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'text'; text: string; citations: null }
  | { type: 'tool_use'; id: string; name: string; input: JsonObject; caller: { type: 'direct' } };

/**
 * A Message as the inbound endpoint returns it. The null members are those @anthropic-ai/sdk
 * 1.14.0's `Message` declares required-but-nullable; older clients ignore them.
 */
export interface AnthropicMessageOut {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlockOut[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: null;
  stop_details: null;
  container: null;
  diagnostics: null;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_creation_input_tokens: number;
    cache_read_input_tokens: number;
    cache_creation: null;
    inference_geo: null;
    output_tokens_details: { thinking_tokens: number } | null;
    server_tool_use: null;
    service_tier: null;
    speed: null;
  };
}

// ---------------------------------------------------------------------------------------------
// OpenAI chat.completions
// ---------------------------------------------------------------------------------------------

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /**
   * `cached_tokens` is OpenAI's cache-read count; `cache_write_tokens` is the field openai 6.49.0
   * declares for tokens written to the cache (CompletionUsage.PromptTokensDetails), which is where
   * Anthropic's cache_creation_input_tokens goes.
   */
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number };
  /** Anthropic's output_tokens_details.thinking_tokens, as OpenAI reports reasoning. */
  completion_tokens_details?: { reasoning_tokens: number };
}

/**
 * A thinking block in an OpenAI-format answer (`message.thinking_blocks`, LiteLLM's field). In a stream
 * only the signature or the redacted data travels this way; the text comes as `reasoning_content`.
 */
export type OpenAIThinkingBlock =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string };

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface OpenAIChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      refusal: string | null;
      tool_calls?: OpenAIToolCall[];
      reasoning_content?: string;
      thinking_blocks?: OpenAIThinkingBlock[];
    };
    logprobs: null;
    finish_reason: OpenAIFinishReason;
  }>;
  usage: OpenAIUsage;
}

export interface OpenAIToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChunkDelta {
  role?: 'assistant';
  content?: string | null;
  reasoning_content?: string;
  thinking_blocks?: Array<{ type: 'thinking'; signature: string } | { type: 'redacted_thinking'; data: string }>;
  tool_calls?: OpenAIToolCallDelta[];
}

export interface OpenAIChunkChoice {
  index: number;
  delta: OpenAIChunkDelta;
  logprobs: null;
  finish_reason: OpenAIFinishReason | null;
}

export interface OpenAIChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: OpenAIChunkChoice[];
  /** Present (null, then the totals on the last chunk) only when the client set include_usage. */
  usage?: OpenAIUsage | null;
}

/** The OpenAI-shaped error a translator reports; the relay renders it as `{"error": {...}}`. */
export interface TranslatedError {
  status: number;
  type: string;
  code: string;
  /** Fixed, safe text; never copied from the upstream. */
  message: string;
}
