/**
 * POST /v1/chat/completions: authenticate, parse, check access, pick channels, book, call upstream
 * (with failover), stream or answer, settle, record.
 */
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { GatewayError } from '../errors.js';
import type { Channel } from '../channels/channel.js';
import { readJsonBody } from '../http/body.js';
import type { Principal } from '../tokens/principal.js';
import { authenticate, checkModelAllowed, presentedToken } from './authenticate.js';
import { chatRequestSchema, parseRequest, type ChatRequest } from './chat-request.js';
import { chooseChannels } from './channel-choice.js';
import { attemptChannels, type Attempt, type RequestContext } from './attempts.js';
import { settle } from './booking.js';
import { newMessages, systemPromptOf, textOf, titleFrom, type ConversationRef } from './conversations.js';
import { protocolFor } from './adapters/index.js';
import type { ProtocolContext } from './adapters/protocol.js';
import { relaySse, SSE_HEADERS, BeforeFirstByteError } from './sse-relay.js';
import { summarizeChunks, summarizeCompletion, type ReplySummary } from './reply-summary.js';
import { baseHeaders, readBody, sendJsonText } from './respond.js';
import { countChatPrompt, countText } from './tokenize.js';
import type { RelayDeps } from './relay-deps.js';
import type { RelayEnv } from './routes.js';
import type { RecordedMessage } from '../usage/usage-record.js';

const MAX_UPSTREAM_JSON = 64 * 1024 * 1024;

export async function handleChat(r: RelayDeps, c: Context<RelayEnv>, ctx: RequestContext): Promise<Response> {
  const incoming = c.env.incoming;
  const principal = await authenticate(r.principals, presentedToken(incoming.headers));
  const body = (await readJsonBody(incoming, r.config.LYSS_BODY_LIMIT_BYTES)) as Record<string, unknown>;
  const req = parseRequest(chatRequestSchema, body);
  checkModelAllowed(principal, req.model);
  if (r.usage.full) throw new GatewayError('service_unavailable', 'The gateway is saturated recording usage; please retry shortly.');
  const order = await chooseChannels(r, principal, req.model);
  const conversation = await r.conversations.resolve(principal, incoming.headers['x-lyss-conversation-id'] as string | undefined);

  const stream = req.stream === true;
  const n = req.n ?? 1;
  const finite = principal.quota >= 0 || order.some((ch) => ch.quota >= 0);
  // Counting the prompt costs CPU; with no finite quota in play the reservation does not need it.
  let promptTokens = finite ? countChatPrompt(req.messages, req.tools) : -1;
  const requestedMax = req.max_completion_tokens ?? req.max_tokens ?? null;
  const desired = finite ? r.pricing.units(req.model, promptTokens + n * (requestedMax ?? r.config.LYSS_DEFAULT_MAX_TOKENS)) : 0;
  const minimum = finite ? r.pricing.units(req.model, promptTokens + n) : 0;
  const pctx: ProtocolContext = {
    id: `chatcmpl-${ctx.requestId.replace(/^req_/, '')}`,
    created: Math.floor(Date.now() / 1000),
    model: req.model,
    includeUsage: stream && req.stream_options?.include_usage === true,
  };
  const headers = baseHeaders(ctx.requestId, { 'x-lyss-conversation-id': conversation.id });

  await attemptChannels(r, ctx, {
    principal,
    order,
    desired,
    minimum,
    build(channel, booking) {
      const protocol = protocolFor(channel);
      const out: Record<string, unknown> = { ...body, model: channel.modelMapping[req.model] ?? req.model };
      // Always ask for usage; the usage chunk reaches the client only if it asked (see Protocol.hold).
      if (stream) out.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
      if (finite) {
        const allowed = Math.floor((r.pricing.tokensFor(req.model, booking.reserved) - promptTokens) / n);
        if (requestedMax === null || allowed < requestedMax) out[protocol.maxTokensField(channel, body)] = allowed;
      }
      return protocol.call(channel, '/chat/completions', out, { defaultMaxTokens: r.config.LYSS_DEFAULT_MAX_TOKENS });
    },
    error: (channel, status, text) => protocolFor(channel).error(status, text),
    async serve(attempt) {
      const protocol = protocolFor(attempt.channel);
      let summary: ReplySummary;
      if (stream) {
        const relayed = await relaySse({
          body: attempt.response.body,
          res: ctx.res,
          headers: { ...headers, ...SSE_HEADERS },
          mapper: protocol.streamMapper(pctx),
          hold: (data) => protocol.hold(data, pctx),
          abort: ctx.abort,
        });
        summary = summarizeChunks(relayed.chunks);
        if (relayed.outcome !== 'done') r.logger.info('stream ended early', { requestId: ctx.requestId, outcome: relayed.outcome, err: relayed.error });
      } else {
        let text: string;
        let parsed: unknown;
        try {
          const raw = await readBody(attempt.response.body, MAX_UPSTREAM_JSON);
          text = protocol.reply(raw, pctx) ?? raw;
          parsed = JSON.parse(text);
        } catch (err) {
          throw new BeforeFirstByteError(err);
        }
        sendJsonText(ctx.res, 200, text, headers);
        summary = summarizeCompletion(parsed);
      }
      if (promptTokens < 0 && !summary.usage) promptTokens = countChatPrompt(req.messages, req.tools);
      await finish(r, { principal, req, attempt, summary, promptTokens, conversation, ctx });
    },
  });
  return RESPONSE_ALREADY_SENT;
}

/** Step 8-9: settle the reservation to the real cost and queue the usage record. */
export async function finish(
  r: RelayDeps,
  a: { principal: Principal; req: ChatRequest; attempt: Attempt; summary: ReplySummary; promptTokens: number; conversation: ConversationRef; ctx: RequestContext },
): Promise<void> {
  const { principal, req, attempt, summary } = a;
  const reply = summary.content + summary.toolCalls.map((t) => t.function.name + t.function.arguments).join('');
  const prompt = summary.usage?.prompt_tokens ?? a.promptTokens;
  const completion = summary.usage?.completion_tokens ?? countText(reply);
  const cost = r.pricing.units(req.model, prompt + completion);
  await settle(r.store, attempt.booking, cost).catch((err) => r.logger.error('quota settle failed; the reservation will expire', { err, requestId: a.ctx.requestId }));
  const responseTimeMs = Date.now() - a.ctx.startedAt;
  const added = newMessages(req.messages);
  const messages: RecordedMessage[] = [
    ...added.map((m) => ({
      role: m.role,
      content: textOf(m.content),
      tokenCount: countText(textOf(m.content)),
      toolCallId: m.tool_call_id ?? null,
    })),
    {
      role: 'assistant',
      content: summary.content,
      tokenCount: completion,
      toolCalls: summary.toolCalls.length ? summary.toolCalls : null,
      modelUsed: attempt.channel.modelMapping[req.model] ?? req.model,
      responseTimeMs,
    },
  ];
  r.usage.enqueue({
    tenantId: principal.tenantId,
    tokenId: principal.tokenId,
    userId: principal.userId,
    channelId: attempt.channel.id,
    cost,
    promptTokens: prompt,
    completionTokens: completion,
    model: req.model,
    at: new Date().toISOString(),
    // Without stored content, nothing of it may land anywhere: the title and system prompt are content too.
    conversation: principal.tenant.storeContent
      ? { id: a.conversation.id, title: titleFrom(req.messages), systemPrompt: systemPromptOf(req.messages), messages, messageCount: messages.length }
      : { id: a.conversation.id, title: titleFrom([]), systemPrompt: null, messages: [], messageCount: messages.length },
  });
}

export type { Channel };
