/**
 * How the relay talks to each wire format: build the upstream request, turn a non-stream answer and a
 * stream's events into OpenAI's shapes, judge an error. OpenAI-format channels pass bytes through.
 */
import type { Channel } from '../../channels/channel.js';
import type { UpstreamCall } from '../upstream.js';
import type { StreamMapper } from '../sse-relay.js';
import { openAICall, type OpenAIEndpoint } from './openai.js';
import { mapOpenAIError, type UpstreamFailure } from './openai-errors.js';
import { isUsageOnlyChunk } from '../reply-summary.js';

export interface ProtocolContext {
  id: string;
  created: number;
  /** The model name the client asked for (echoed back by translating adapters). */
  model: string;
  includeUsage: boolean;
}

export interface CallOptions {
  /** max_tokens for formats that require one when the client gave none (Anthropic). */
  defaultMaxTokens: number;
}

export interface Protocol {
  call(channel: Channel, endpoint: OpenAIEndpoint, body: Record<string, unknown>, opts?: CallOptions): UpstreamCall;
  /** A non-stream answer as the OpenAI response text to send; null when the bytes pass through as they are. */
  reply(text: string, ctx: ProtocolContext): string | null;
  streamMapper(ctx: ProtocolContext): StreamMapper;
  /** Chunk payloads produced but not shown to the client. */
  hold(data: string, ctx: ProtocolContext): boolean;
  error(status: number, text: string): UpstreamFailure;
  /** Which request field caps the completion on this channel. */
  maxTokensField(channel: Channel, body: Record<string, unknown>): 'max_tokens' | 'max_completion_tokens';
}

const passthroughMapper = (): StreamMapper => ({ map: (_event, data) => [data], end: () => [] });

export const openAIProtocol: Protocol = {
  call: openAICall,
  reply: () => null,
  streamMapper: passthroughMapper,
  hold: (data, ctx) => !ctx.includeUsage && isUsageOnlyChunk(data),
  error: mapOpenAIError,
  maxTokensField(channel, body) {
    if (body.max_completion_tokens != null) return 'max_completion_tokens';
    if (body.max_tokens != null) return 'max_tokens';
    // OpenAI's reasoning models refuse max_tokens; compatible vendors often know only max_tokens.
    return channel.providerName === 'openai' ? 'max_completion_tokens' : 'max_tokens';
  },
};
