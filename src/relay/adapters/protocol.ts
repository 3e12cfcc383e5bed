/**
 * How the relay talks to each wire format: build the upstream request, turn a non-stream answer and a
 * stream's events into OpenAI's shapes, judge an error. OpenAI-format channels pass bytes through.
 */
import type { Channel } from '../../channels/channel.js';
import type { UpstreamCall } from '../upstream.js';
import { BeforeFirstByteError, type StreamMapper } from '../sse-relay.js';
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

// An in-stream error event (`data: {"error": ...}`, or `event: error`): its text is the upstream's raw error,
// never the client's to see. Thrown from the parser callback, it fails over before the first byte and ends
// the stream with the gateway's own error frame after it. The anchored test stops at the second character
// of an ordinary chunk.
const ERROR_EVENT = /^\s*\{\s*"error"\s*:/;

/**
 * An error object where an answer should be (some upstreams answer 200 with one), judged as the status it stands
 * for would be: a request the upstream found invalid as a 400 (the client's to see, not retried), anything else
 * as a 502 (another channel may serve it): throws it as a BeforeFirstByteError, so it is never served, nor billed.
 */
export function refuseErrorAnswer(protocol: Protocol, text: string): void {
  if (!ERROR_EVENT.test(text)) return;
  let type: unknown;
  try {
    type = (JSON.parse(text) as { error?: { type?: unknown } }).error?.type;
  } catch {
    return;
  }
  const failure = protocol.error(typeof type === 'string' && type.includes('invalid_request') ? 400 : 502, text);
  throw new BeforeFirstByteError(new Error('upstream answered 200 with an error body'), failure);
}

// What the gateway's forced include_usage adds to every chunk; a client that did not ask never sees it from
// OpenAI directly. OpenAI writes it last, so an exact suffix test does it without parsing the JSON.
const USAGE_NULL_TAIL = ',"usage":null}';

const passthroughMapper = (ctx: ProtocolContext): StreamMapper => ({
  map(event, data) {
    if (event === 'error' || ERROR_EVENT.test(data)) throw new Error('upstream sent an error event in its stream');
    if (!ctx.includeUsage && data.endsWith(USAGE_NULL_TAIL)) return [`${data.slice(0, -USAGE_NULL_TAIL.length)}}`];
    return [data];
  },
  end: () => [],
});

export const openAIProtocol: Protocol = {
  call: openAICall,
  reply: () => null,
  streamMapper: passthroughMapper,
  hold: (data, ctx) => !ctx.includeUsage && isUsageOnlyChunk(data),
  error: mapOpenAIError,
  maxTokensField(channel, body) {
    // Compatible vendors often know only max_tokens, so they always get it (upstreamBody lowers any other cap the
    // client set alike). OpenAI's reasoning models refuse max_tokens: OpenAI gets the client's own field, or
    // max_completion_tokens.
    if (channel.providerName !== 'openai') return 'max_tokens';
    return body.max_completion_tokens == null && body.max_tokens != null ? 'max_tokens' : 'max_completion_tokens';
  },
};

/**
 * The field that caps a client's completion: max_completion_tokens when it sent one, as OpenAI and our Anthropic
 * translation read it first. The quota's cap must lower that field, or the client's own value would win.
 */
export function clientsMaxTokensField(body: Record<string, unknown>): 'max_tokens' | 'max_completion_tokens' {
  return body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
}
