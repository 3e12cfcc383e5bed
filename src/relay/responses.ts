/**
 * POST /v1/responses, OpenAI's Responses API, served by OpenAI channels (OpenAI's own API, or a server that
 * implements it configured as type openai) and passed through both ways: the request as the client wrote it
 * (model mapped, a finite quota's cap in max_output_tokens), the answer byte for byte. The answer is read as it
 * passes for the usage record, and the input becomes the conversation's new messages, as for a chat request.
 *
 * A stored response lives with the upstream account that made it: the gateway notes which channel that was, and
 * sends a request continuing it (`previous_response_id`), and GET/DELETE of it, there (stored-responses.ts).
 * Background responses are refused: their usage is only known after the request that made them has ended.
 */
import type { IncomingMessage } from 'node:http';
import { responsesRequestSchema, type ChatMessage, type ChatRequest, type ResponsesRequest } from './chat-request.js';
import { chooseChannels, type EndpointScope } from './channel-choice.js';
import { attemptChannels, type Attempt, type RequestContext } from './attempts.js';
import { finish } from './chat.js';
import { openAICall } from './adapters/openai.js';
import { openAIProtocol, refuseErrorAnswer } from './adapters/protocol.js';
import { BeforeFirstByteError, relayEvents, SSE_HEADERS, type EventSink } from './sse-relay.js';
import { summarizeResponse, TextParts, type ReplySummary } from './reply-summary.js';
import { baseHeaders, MAX_UPSTREAM_JSON, readBody, sendJsonText } from './respond.js';
import { isRecord, parseJsonObject } from './adapters/anthropic/guards.js';
import type { JsonObject } from './adapters/anthropic/wire.js';
import { countChatPrompt } from './tokenize.js';
import { intake } from './intake.js';
import { continuingOrder, rememberHolder } from './stored-responses.js';
import { GatewayError } from '../errors.js';
import type { Channel } from '../channels/channel.js';
import type { RelayDeps } from './relay-deps.js';

const RESPONSES: EndpointScope = {
  offers: (c) => c.format === 'openai' && c.providerName === 'openai',
  othersOffer: 'do not offer the Responses API',
};

const MIN_OUTPUT_TOKENS = 16;

export async function handleResponses(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  const { principal, body, req } = await intake(r, incoming, responsesRequestSchema);
  if (req.background) {
    throw new GatewayError('invalid_request_error', 'Background responses are not supported by this gateway: their usage could not be accounted for.', {
      param: 'background',
      code: 'invalid_value',
    });
  }
  const chosen = await chooseChannels(r, principal, req.model, RESPONSES);
  const order = req.previous_response_id ? await continuingOrder(r, principal, req.model, req.previous_response_id, chosen) : chosen;
  // What the upstream stores (by default it does) is found again through the channel that made it.
  const noteHolder = req.store === false ? () => undefined : (id: string, channel: Channel) => rememberHolder(r, principal, id, channel);
  const conversation = await r.conversations.resolve(principal, incoming.headers['x-lyss-conversation-id'] as string | undefined);

  const chat = chatFormOf(req);
  const stream = req.stream === true;
  const finite = principal.quota >= 0 || order.some((ch) => ch.quota >= 0);
  const promptTokens = finite ? countChatPrompt(chat.messages, req.tools) : -1;
  const requestedMax = req.max_output_tokens ?? null;
  const desired = finite ? r.pricing.units(req.model, promptTokens + (requestedMax ?? r.config.LYSS_DEFAULT_MAX_TOKENS)) : 0;
  // The Responses API refuses a max_output_tokens below 16: a quota that cannot hold that much is refused here.
  const minimum = finite ? r.pricing.units(req.model, promptTokens + MIN_OUTPUT_TOKENS) : 0;
  const headers = baseHeaders(ctx.requestId, { 'x-lyss-conversation-id': conversation.id });

  const sendWhole = async (attempt: Attempt): Promise<ReplySummary> => {
    let raw: string;
    let answer: unknown;
    let summary: ReplySummary;
    try {
      raw = await readBody(attempt.response.body, MAX_UPSTREAM_JSON);
      refuseErrorAnswer(openAIProtocol, raw);
      answer = JSON.parse(raw);
      summary = summarizeResponse(answer);
    } catch (err) {
      throw err instanceof BeforeFirstByteError ? err : new BeforeFirstByteError(err);
    }
    // Noted before the client has the id, so a follow-up naming it cannot arrive first.
    if (isRecord(answer) && typeof answer.id === 'string') await noteHolder(answer.id, attempt.channel);
    sendJsonText(ctx.res, 200, raw, headers);
    return summary;
  };

  const relayStream = (attempt: Attempt): Promise<ReplySummary> => {
    const sink = responsesSink((id) => void noteHolder(id, attempt.channel));
    return relayEvents({ body: attempt.response.body, res: ctx.res, headers: { ...headers, ...SSE_HEADERS }, abort: ctx.abort, sink, cutFrame: CUT_FRAME }).then((relayed) => {
      if (relayed.outcome !== 'done') r.logger.info('stream ended early', { requestId: ctx.requestId, outcome: relayed.outcome, err: relayed.error });
      return sink.result();
    });
  };

  return attemptChannels(r, ctx, {
    principal,
    order,
    desired,
    minimum,
    build(channel, booking) {
      const out: Record<string, unknown> = { ...body, model: channel.modelMapping[req.model] ?? req.model };
      if (finite) {
        const allowed = Math.floor(r.pricing.tokensFor(req.model, booking.reserved) - promptTokens);
        out.max_output_tokens = requestedMax === null ? allowed : Math.min(requestedMax, allowed);
      }
      return openAICall(channel, '/responses', out);
    },
    error: (_channel, status, text) => openAIProtocol.error(status, text),
    // Chained, not awaited: no frame stays suspended for as long as a stream lasts.
    serve: (attempt) =>
      (stream ? relayStream(attempt) : sendWhole(attempt)).then((summary) =>
        finish(r, { principal, req: chat, attempt, summary, promptTokens, conversation, ctx }),
      ),
  }).finally(() => r.conversations.ended(principal, conversation));
}

// ---------------------------------------------------------------------------------------------
// The input as chat messages: what the prompt estimate counts and the conversation stores
// ---------------------------------------------------------------------------------------------

function chatFormOf(req: ResponsesRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  if (req.instructions) messages.push({ role: 'system', content: req.instructions });
  if (typeof req.input === 'string') messages.push({ role: 'user', content: req.input });
  else for (const item of req.input ?? []) messages.push(...chatMessagesOf(item));
  return { model: req.model, messages, max_tokens: req.max_output_tokens, temperature: req.temperature, tools: req.tools };
}

const ROLES = new Set(['user', 'assistant', 'system', 'developer']);

/**
 * One input item as chat messages: a message (easy or typed), a function call and its output. Reasoning items,
 * built-in tool calls and item references carry no text the conversation keeps.
 */
function chatMessagesOf(item: unknown): ChatMessage[] {
  if (!isRecord(item)) return [];
  const type = item.type ?? 'message';
  if (type === 'message' && typeof item.role === 'string' && ROLES.has(item.role)) {
    return [{ role: item.role as ChatMessage['role'], content: typeof item.content === 'string' ? item.content : partsOf(item.content) }];
  }
  if (type === 'function_call' && typeof item.name === 'string') {
    const call = { id: String(item.call_id ?? ''), type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '' } };
    return [{ role: 'assistant', content: null, tool_calls: [call] }];
  }
  if (type === 'function_call_output') {
    return [{ role: 'tool', tool_call_id: String(item.call_id ?? ''), content: typeof item.output === 'string' ? item.output : partsOf(item.output) }];
  }
  return [];
}

/** Content parts in chat form: text kept, images and files as parts the estimate prices as images. */
function partsOf(content: unknown): JsonObject[] {
  const parts: JsonObject[] = [];
  for (const part of Array.isArray(content) ? content : []) {
    if (!isRecord(part)) continue;
    const text = part.type === 'input_text' || part.type === 'output_text' ? part.text : part.type === 'refusal' ? part.refusal : undefined;
    if (typeof text === 'string') parts.push({ type: 'text', text });
    else if (part.type === 'input_image') parts.push({ type: 'image_url' });
    else if (part.type === 'input_file') parts.push({ type: 'file' });
  }
  return parts;
}

// ---------------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------------

/** After the first byte, a failed stream ends with one `error` event, in the API's own shape. */
const CUT_FRAME = `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'upstream_error', message: 'The upstream stream was interrupted.', param: null })}\n\n`;

/** Events that come before any output: held back, so a failure right after them still fails over. */
const PREAMBLE = new Set(['response.created', 'response.in_progress', 'response.queued']);

/**
 * Bytes pass through; events are read for the record: the response's id as it is created, the text deltas as they
 * pass (what a cut stream said), then the whole answer from response.completed (or response.incomplete), which
 * carries the usage.
 */
function responsesSink(onResponseId: (id: string) => void): EventSink {
  const text = new TextParts();
  let created = false;
  let final: ReplySummary | null = null;
  let failure: { code: string; message: string } | null = null;
  let begun = false;
  return {
    passthrough: true,
    event(name, data) {
      const type = name ?? /"type"\s*:\s*"([a-z_.]+)"/.exec(data)?.[1];
      if (type === 'error' || type === 'response.failed') {
        failure = { code: 'upstream_stream_error', message: `the upstream reported ${type}` };
        return '';
      }
      if (type === 'response.created' && !created) {
        created = true;
        const id = (parseJsonObject(data)?.response as JsonObject | undefined)?.id;
        if (typeof id === 'string') onResponseId(id);
      }
      if (type && PREAMBLE.has(type)) return '';
      begun = true;
      if (type === 'response.output_text.delta') {
        const delta = parseJsonObject(data)?.delta;
        if (typeof delta === 'string') text.add(delta);
      } else if (type === 'response.completed' || type === 'response.incomplete') {
        final = summarizeResponse(parseJsonObject(data)?.response);
      }
      return '';
    },
    end() {
      // An error event already went through with the bytes; anything else without the final response is a cut.
      if (!final && !failure) throw new Error('upstream stream ended before response.completed');
      return '';
    },
    begun: () => begun,
    failed: () => failure,
    result: () => final ?? { content: text.toString(), toolCalls: [], usage: null, finishReason: null },
  };
}
