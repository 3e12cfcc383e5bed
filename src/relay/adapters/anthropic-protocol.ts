/**
 * Anthropic channels: OpenAI chat requests translated to the Messages API, answers and streams translated
 * back to chat.completion and chat.completion.chunk (src/relay/adapters/anthropic/).
 */
import type { Channel } from '../../channels/channel.js';
import { GatewayError } from '../../errors.js';
import { splitUrl, type UpstreamCall } from '../upstream.js';
import { clientsMaxTokensField, openAIProtocol, type CallOptions, type Protocol, type ProtocolContext } from './protocol.js';
import type { OpenAIEndpoint } from './openai.js';
import { anthropicHeaders, toAnthropicRequest } from './anthropic/request.js';
import { fromAnthropicResponse } from './anthropic/response.js';
import { createAnthropicStreamTranslator } from './anthropic/stream.js';
import { AdapterRequestError, mapAnthropicError } from './anthropic/errors.js';
import type { StreamMapper } from '../sse-relay.js';
import type { OpenAIChunk } from './anthropic/wire.js';

/** A request the Messages API cannot express becomes the client's 400, naming the field. */
export function asClientError(err: unknown): never {
  if (err instanceof AdapterRequestError) throw new GatewayError('invalid_request_error', err.message, { param: err.param, code: err.code });
  throw err;
}

/** Headers an Anthropic client sent that shape the request it wrote (inbound /v1/messages passthrough). */
export interface AnthropicClientHeaders {
  version?: string | undefined;
  beta?: string | undefined;
}

/**
 * A Messages API request to an Anthropic channel. The API version is the channel's `config.anthropic_version`
 * if set; else, for a body an Anthropic client wrote (passthrough), the version that client sent, since the
 * body follows that version's shape; else the version the translator writes.
 */
export function anthropicMessagesCall(channel: Channel, request: Record<string, unknown>, client: AnthropicClientHeaders = {}): UpstreamCall {
  const configured = typeof channel.config.anthropic_version === 'string' ? channel.config.anthropic_version : undefined;
  const headers = anthropicHeaders(channel.apiKey ?? '', configured ?? client.version);
  if (client.beta) headers['anthropic-beta'] = client.beta;
  return {
    ...splitUrl(channel.baseUrl ?? 'https://api.anthropic.com', '/v1/messages'),
    headers: { ...headers, accept: 'application/json, text/event-stream' },
    body: JSON.stringify(request),
  };
}

function anthropicCall(channel: Channel, endpoint: OpenAIEndpoint, body: Record<string, unknown>, opts?: CallOptions): UpstreamCall {
  if (endpoint !== '/chat/completions') throw new GatewayError('invalid_request_error', `Anthropic channels do not serve ${endpoint}.`);
  let request: Record<string, unknown>;
  try {
    request = toAnthropicRequest(body, { model: String(body.model), defaultMaxTokens: opts?.defaultMaxTokens ?? 4096 });
  } catch (err) {
    asClientError(err);
  }
  return anthropicMessagesCall(channel, request);
}

function streamMapper(ctx: ProtocolContext): StreamMapper {
  // Usage is always translated, so billing has it; Protocol.hold keeps the usage chunk from a client that
  // did not ask, and the `usage: null` OpenAI puts on every chunk only then is dropped here.
  const t = createAnthropicStreamTranslator({ id: ctx.id, model: ctx.model, created: ctx.created, includeUsage: true });
  // message_start yields only the role chunk. Holding it until content arrives keeps "nothing sent yet"
  // true through Anthropic's early `error` event (overloaded right after message_start), so the relay can
  // still fail over to another channel.
  let held: OpenAIChunk[] = [];
  const substantive = (c: OpenAIChunk) =>
    c.choices.length === 0 || c.choices.some((ch) => ch.finish_reason !== null || ch.delta.tool_calls !== undefined || (ch.delta.content ?? '') !== '');
  const serialize = (chunks: OpenAIChunk[]) =>
    chunks.map((c) => {
      if (!ctx.includeUsage && c.choices.length > 0) delete c.usage;
      return JSON.stringify(c);
    });
  const failIfErrored = () => {
    const e = t.error();
    // Thrown from the parser callback: before the first byte this fails over, after it ends the stream with an error frame.
    if (e) throw new Error(`anthropic stream error: ${e.type}: ${e.message}`);
  };
  return {
    map(event, data) {
      const chunks = t.push(event, data);
      failIfErrored();
      if (chunks.length === 0) return [];
      if (!chunks.some(substantive)) {
        held.push(...chunks);
        return [];
      }
      const out = [...held, ...chunks];
      held = [];
      return serialize(out);
    },
    end() {
      const chunks = [...held, ...t.finish()];
      held = [];
      failIfErrored();
      return [...serialize(chunks), '[DONE]'];
    },
    reportedPromptTokens: () => t.usage()?.prompt_tokens ?? null,
  };
}

export const anthropicProtocol: Protocol = {
  call: anthropicCall,
  reply: (text, ctx) => JSON.stringify(fromAnthropicResponse(JSON.parse(text), { id: ctx.id, model: ctx.model, created: ctx.created })),
  streamMapper,
  hold: openAIProtocol.hold,
  error: mapAnthropicError,
  // The translation reads max_completion_tokens before max_tokens (anthropic/request.ts).
  maxTokensField: (_channel, body) => clientsMaxTokensField(body),
};
