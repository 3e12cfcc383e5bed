/**
 * POST /v1/messages: Anthropic's Messages API, for Anthropic SDK clients and the tools built on them.
 * Authenticated with a Lyss token (x-api-key or Bearer) and routed to any channel serving the model:
 * Anthropic channels get the request as it came (model mapped, max_tokens capped by the reservation) and
 * their bytes are relayed; OpenAI-format and Azure channels get it translated (adapters/anthropic/inbound.ts)
 * and their answers translated back. Booking, failover, settlement and the usage record are the chat
 * pipeline's (attempts.ts, chat.ts `finish`). Every refusal is in Anthropic's error shape.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { refusalOf } from '../errors.js';
import { chatRequestSchema, parseRequest } from './chat-request.js';
import { checkServed, chooseChannels } from './channel-choice.js';
import { attemptChannels, type Attempt, type RequestContext } from './attempts.js';
import { completionTokens, finish } from './chat.js';
import { protocolFor } from './adapters/index.js';
import { refuseErrorAnswer, type Protocol, type ProtocolContext } from './adapters/protocol.js';
import { anthropicMessagesCall, asClientError } from './adapters/anthropic-protocol.js';
import {
  anthropicMessageId,
  anthropicToOpenAIRequest,
  createOpenAIToAnthropicStreamTranslator,
  openAIErrorToAnthropic,
  openAIToAnthropicResponse,
  type AnthropicSseEvent,
} from './adapters/anthropic/inbound.js';
import { createAnthropicStreamTranslator } from './adapters/anthropic/stream.js';
import { fromAnthropicResponse } from './adapters/anthropic/response.js';
import type { TranslatedError } from './adapters/anthropic/wire.js';
import { BeforeFirstByteError, relayEvents, SSE_HEADERS, type EventSink } from './sse-relay.js';
import { ChunkSummary, summarizeCompletion, withReportedPrompt, type ReplySummary } from './reply-summary.js';
import { baseHeaders, MAX_UPSTREAM_JSON, readBody, sendJsonText } from './respond.js';
import { countChatPrompt } from './tokenize.js';
import { intake } from './intake.js';
import type { RelayDeps } from './relay-deps.js';


/** The fields the gateway reads; the rest passes through (to Anthropic channels) or to the translator. */
const messagesRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(z.looseObject({ role: z.string(), content: z.union([z.string(), z.array(z.unknown())]) })).min(1),
  // Required by the Messages API, so a request that works here works against Anthropic too.
  max_tokens: z.number().int().positive(),
  stream: z.boolean().nullish(),
});

/**
 * POST /v1/messages/count_tokens: `{"input_tokens": n}` for a Messages request, counted here with the tokenizer
 * that books the quota (o200k; Claude's own counts run a few percent apart), whatever channel would serve it.
 * Claude Code asks before every turn to decide when to compact its context; a 404 left it guessing. Nothing is
 * booked or recorded, as Anthropic does not bill it; the token must still be valid and allowed the model.
 */
export function handleCountTokens(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  return countTokens(r, incoming, ctx).catch((err: unknown) => sendAnthropicError(r, incoming, ctx, err));
}

const countTokensSchema = messagesRequestSchema.omit({ max_tokens: true, stream: true });

async function countTokens(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  const { principal, body, req: msg } = await intake(r, incoming, countTokensSchema);
  // Nothing goes upstream: channels cooling down do not matter, only that the token may use the model.
  await checkServed(r, principal, msg.model);
  let inputTokens: number;
  try {
    const req = parseRequest(chatRequestSchema, anthropicToOpenAIRequest(body));
    inputTokens = countChatPrompt(req.messages, req.tools);
  } catch {
    // Content only Anthropic runs (a server tool such as web search): the text, system prompt and tools as written.
    const system = body.system == null ? [] : [{ role: 'system', content: typeof body.system === 'string' ? body.system : JSON.stringify(body.system) }];
    inputTokens = countChatPrompt([...system, ...textOnlyMessages(body)], body.tools);
  }
  sendJsonText(ctx.res, 200, JSON.stringify({ input_tokens: inputTokens }), baseHeaders(ctx.requestId, { 'request-id': ctx.requestId }));
}

export function handleMessages(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  return serveMessages(r, incoming, ctx).catch((err: unknown) => {
    if (ctx.res.headersSent) throw err;
    sendAnthropicError(r, incoming, ctx, err);
  });
}

async function serveMessages(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  const { principal, body, req: msg } = await intake(r, incoming, messagesRequestSchema);
  const order = await chooseChannels(r, principal, msg.model);
  const conversation = await r.conversations.resolve(principal, incoming.headers['x-lyss-conversation-id'] as string | undefined);

  // The OpenAI form of the request: what OpenAI-format channels receive, and what the usage record reads.
  // Content only an Anthropic channel can run (server tools...) fails translation; that is the client's
  // error only if no Anthropic channel takes the request.
  let translated: Record<string, unknown> | null = null;
  let untranslatable: unknown = null;
  try {
    translated = anthropicToOpenAIRequest(body);
  } catch (err) {
    untranslatable = err;
  }
  const req = parseRequest(chatRequestSchema, translated ?? { model: msg.model, messages: textOnlyMessages(body) });

  const stream = msg.stream === true;
  const finite = principal.quota >= 0 || order.some((ch) => ch.quota >= 0);
  let promptTokens = finite ? countChatPrompt(req.messages, req.tools) : -1;
  const desired = finite ? r.pricing.units(msg.model, promptTokens + msg.max_tokens) : 0;
  const minimum = finite ? r.pricing.units(msg.model, promptTokens + 1) : 0;
  const messageId = anthropicMessageId(ctx.requestId.replace(/^req_/, ''));
  const pctx: ProtocolContext = { id: messageId, created: Math.floor(Date.now() / 1000), model: msg.model, includeUsage: true };
  const headers = baseHeaders(ctx.requestId, { 'request-id': ctx.requestId, 'x-lyss-conversation-id': conversation.id });
  const clientHeaders = {
    version: headerOf(incoming.headers['anthropic-version']),
    beta: headerOf(incoming.headers['anthropic-beta']),
  };

  /** Anthropic's events pass through; an OpenAI stream is translated to them. */
  const relayStream = (attempt: Attempt, native: boolean): Promise<ReplySummary> => {
    // message_start carries the prompt's size (clients size their context by it): counted here if not yet.
    if (!native && promptTokens < 0) promptTokens = countChatPrompt(req.messages, req.tools);
    const sink = native ? nativeSink(pctx) : translatingSink(protocolFor(attempt.channel), pctx, { id: messageId, model: msg.model, inputTokens: promptTokens });
    return relayEvents({ body: attempt.response.body, res: ctx.res, headers: { ...headers, ...SSE_HEADERS }, abort: ctx.abort, sink, cutFrame: CUT_FRAME }).then((relayed) => {
      if (relayed.outcome !== 'done') r.logger.info('stream ended early', { requestId: ctx.requestId, outcome: relayed.outcome, err: relayed.error });
      return sink.result();
    });
  };

  /** A whole Message: Anthropic's passes byte for byte (read as OpenAI's for the record), an OpenAI answer is translated. */
  const sendWhole = async (attempt: Attempt, native: boolean): Promise<ReplySummary> => {
    let summary: ReplySummary;
    let text: string;
    try {
      const raw = await readBody(attempt.response.body, MAX_UPSTREAM_JSON);
      if (native) {
        summary = summarizeCompletion(fromAnthropicResponse(JSON.parse(raw), { id: messageId, model: msg.model, created: pctx.created }));
        text = raw;
      } else {
        const protocol = protocolFor(attempt.channel);
        refuseErrorAnswer(protocol, raw);
        const completion: unknown = JSON.parse(protocol.reply(raw, pctx) ?? raw);
        summary = summarizeCompletion(completion);
        text = JSON.stringify(openAIToAnthropicResponse(completion, { id: messageId, model: msg.model }));
      }
    } catch (err) {
      throw err instanceof BeforeFirstByteError ? err : new BeforeFirstByteError(err);
    }
    sendJsonText(ctx.res, 200, text, headers);
    return summary;
  };

  return attemptChannels(r, ctx, {
    principal,
    order,
    desired,
    minimum,
    build(channel, booking) {
      const model = channel.modelMapping[msg.model] ?? msg.model;
      let maxTokens = msg.max_tokens;
      if (finite) maxTokens = Math.min(maxTokens, Math.floor(r.pricing.tokensFor(msg.model, booking.reserved) - promptTokens));
      if (channel.format === 'anthropic') return anthropicMessagesCall(channel, { ...body, model, max_tokens: maxTokens }, clientHeaders);
      if (!translated) asClientError(untranslatable);
      const out: Record<string, unknown> = { ...translated, model };
      // The cap goes in the field this channel reads (Protocol.maxTokensField), as for a chat request without one.
      delete out.max_tokens;
      const protocol = protocolFor(channel);
      out[protocol.maxTokensField(channel, out)] = maxTokens;
      return protocol.call(channel, '/chat/completions', out, { defaultMaxTokens: r.config.LYSS_DEFAULT_MAX_TOKENS });
    },
    error: (channel, status, text) => protocolFor(channel).error(status, text),
    serve(attempt) {
      const native = attempt.channel.format === 'anthropic';
      // Chained, not awaited: no frame stays suspended for as long as a stream lasts.
      return (stream ? relayStream(attempt, native) : sendWhole(attempt, native)).then((summary) =>
        finish(r, { principal, req, attempt, summary, promptTokens, conversation, ctx }),
      );
    },
  }).finally(() => r.conversations.ended(principal, conversation));
}

function headerOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** A rough OpenAI view of a conversation the translator refused, for the usage record only. */
function textOnlyMessages(body: Record<string, unknown>): { role: string; content: string }[] {
  const text = (content: unknown): string =>
    typeof content === 'string'
      ? content
      : Array.isArray(content)
        ? content.map((b) => (b && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string' ? (b as { text: string }).text : '')).join('')
        : '';
  const messages = Array.isArray(body.messages) ? body.messages : [];
  return messages.map((m) => {
    const role = (m as { role?: unknown })?.role === 'assistant' ? 'assistant' : 'user';
    return { role, content: text((m as { content?: unknown })?.content) };
  });
}

/** A gateway refusal in Anthropic's shape: `{"type":"error","error":{"type","message"}}`, same status. */
function sendAnthropicError(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext, err: unknown): void {
  const headers = baseHeaders(ctx.requestId, { 'request-id': ctx.requestId });
  const refusal = refusalOf(err);
  if (refusal) {
    if (refusal.retryAfter) headers['retry-after'] = refusal.retryAfter;
    const { message, type } = refusal.body.error;
    sendJsonText(ctx.res, refusal.status, JSON.stringify(openAIErrorToAnthropic(refusal.status, { message, type })), headers);
    return;
  }
  r.logger.error('unhandled error', { err, requestId: ctx.requestId, path: incoming.url });
  sendJsonText(ctx.res, 500, JSON.stringify(openAIErrorToAnthropic(500, { message: 'The gateway failed to handle this request.' })), headers);
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** After the first byte, a failed stream ends with one `error` event, as Anthropic ends its own. */
const CUT_FRAME = sseFrame('error', openAIErrorToAnthropic(502, { message: 'The upstream stream was interrupted.' }));

/**
 * An Anthropic stream begins, for the client, at its first content block or its final delta: until then
 * nothing is written, so an early upstream error (overloaded right after message_start) fails over.
 */
const BEGINS = new Set(['content_block_start', 'message_delta', 'message_stop']);

/** Anthropic channel: bytes pass through; events are read through the Anthropic->OpenAI translator for accounting. */
function nativeSink(pctx: ProtocolContext): EventSink {
  const t = createAnthropicStreamTranslator({ id: pctx.id, model: pctx.model, created: pctx.created, includeUsage: true });
  const summary = new ChunkSummary();
  let begun = false;
  let stopped = false;
  return {
    passthrough: true,
    result: () => withReportedPrompt(summary.result(), t.usage()?.prompt_tokens ?? null),
    event(name, data) {
      // Anthropic names every event; the payload's own type (its first field) covers a server that does not.
      const type = name ?? /"type"\s*:\s*"([a-z_]+)"/.exec(data)?.[1];
      if (type && BEGINS.has(type)) begun = true;
      if (type === 'message_stop') stopped = true;
      for (const c of t.push(name, data)) summary.add(JSON.stringify(c));
      return '';
    },
    end() {
      for (const c of t.finish()) summary.add(JSON.stringify(c));
      // An error event already went through with the bytes; anything else without message_stop is a cut.
      if (!stopped && !t.error()) throw new Error('upstream stream ended before message_stop');
      return '';
    },
    begun: () => begun,
    failed: () => t.error(),
  };
}

/** OpenAI-format channel: chunks are translated to Anthropic's events and summarised for accounting. */
function translatingSink(protocol: Protocol, pctx: ProtocolContext, msg: { id: string; model: string; inputTokens: number }): EventSink {
  const mapper = protocol.streamMapper(pctx);
  const summary = new ChunkSummary();
  const t = createOpenAIToAnthropicStreamTranslator({ ...msg, outputTokens: () => completionTokens(summary.result()) });
  let begun = false;
  const frames = (events: AnthropicSseEvent[]) => {
    let text = '';
    for (const e of events) {
      if (BEGINS.has(e.event)) begun = true;
      text += sseFrame(e.event, e.data);
    }
    return text;
  };
  const push = (payloads: string[]) => {
    let text = '';
    for (const p of payloads) {
      if (p !== '[DONE]') summary.add(p);
      text += frames(t.push(p));
    }
    return text;
  };
  return {
    passthrough: false,
    result: () => summary.result(),
    event: (name, data) => push(mapper.map(name, data)),
    end() {
      const failedBefore = t.error() !== null;
      let text = push(mapper.end());
      const events = t.finish();
      if (!failedBefore && t.error()) throw new Error('upstream stream ended before its final chunk');
      text += frames(events);
      return text;
    },
    begun: () => begun,
    failed: () => t.error(),
  };
}

