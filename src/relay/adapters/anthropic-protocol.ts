/**
 * Anthropic channels: OpenAI chat requests translated to the Messages API, answers and streams translated
 * back to chat.completion and chat.completion.chunk (src/relay/adapters/anthropic/).
 */
import type { Channel } from '../../channels/channel.js';
import { GatewayError } from '../../errors.js';
import { splitUrl, type UpstreamCall } from '../upstream.js';
import { openAIProtocol, type CallOptions, type Protocol, type ProtocolContext } from './protocol.js';
import type { OpenAIEndpoint } from './openai.js';
import { anthropicHeaders, toAnthropicRequest } from './anthropic/request.js';
import { fromAnthropicResponse } from './anthropic/response.js';
import { createAnthropicStreamTranslator } from './anthropic/stream.js';
import { AdapterRequestError, mapAnthropicError } from './anthropic/errors.js';
import type { StreamMapper } from '../sse-relay.js';

/** A request the Messages API cannot express becomes the client's 400, naming the field. */
export function asClientError(err: unknown): never {
  if (err instanceof AdapterRequestError) throw new GatewayError('invalid_request_error', err.message, { param: err.param, code: err.code });
  throw err;
}

function anthropicCall(channel: Channel, endpoint: OpenAIEndpoint, body: Record<string, unknown>, opts?: CallOptions): UpstreamCall {
  if (endpoint !== '/chat/completions') throw new GatewayError('invalid_request_error', `Anthropic channels do not serve ${endpoint}.`);
  let request: Record<string, unknown>;
  try {
    request = toAnthropicRequest(body, { model: String(body.model), defaultMaxTokens: opts?.defaultMaxTokens ?? 4096 });
  } catch (err) {
    asClientError(err);
  }
  const version = typeof channel.config.anthropic_version === 'string' ? channel.config.anthropic_version : undefined;
  return {
    ...splitUrl(channel.baseUrl ?? 'https://api.anthropic.com', '/v1/messages'),
    headers: { ...anthropicHeaders(channel.apiKey ?? '', version), accept: 'application/json, text/event-stream' },
    body: JSON.stringify(request),
  };
}

function streamMapper(ctx: ProtocolContext): StreamMapper {
  // Usage is always translated, so billing has it; Protocol.hold keeps it from a client that did not ask.
  const t = createAnthropicStreamTranslator({ id: ctx.id, model: ctx.model, created: ctx.created, includeUsage: true });
  const failIfErrored = () => {
    const e = t.error();
    // Thrown from the parser callback: before the first byte this fails over, after it ends the stream with an error frame.
    if (e) throw new Error(`anthropic stream error: ${e.type}: ${e.message}`);
  };
  return {
    map(event, data) {
      const chunks = t.push(event, data);
      failIfErrored();
      return chunks.map((c) => JSON.stringify(c));
    },
    end() {
      const chunks = t.finish();
      failIfErrored();
      return [...chunks.map((c) => JSON.stringify(c)), '[DONE]'];
    },
  };
}

export const anthropicProtocol: Protocol = {
  call: anthropicCall,
  reply: (text, ctx) => JSON.stringify(fromAnthropicResponse(JSON.parse(text), { id: ctx.id, model: ctx.model, created: ctx.created })),
  streamMapper,
  hold: openAIProtocol.hold,
  error: mapAnthropicError,
  maxTokensField: () => 'max_tokens',
};
