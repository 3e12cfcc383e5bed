/**
 * POST /v1/chat/completions: authenticate, parse, check access, pick channels, book, call upstream
 * (with failover), stream or answer, settle, record.
 */
import type { IncomingMessage } from 'node:http';
import type { Principal } from '../tokens/principal.js';
import { chatRequestSchema, type ChatRequest } from './chat-request.js';
import { chooseChannels } from './channel-choice.js';
import { attemptChannels, type Attempt, type RequestContext } from './attempts.js';
import { newMessages, systemPromptOf, textOf, titleFrom, type ConversationRef } from './conversations.js';
import { protocolFor } from './adapters/index.js';
import type { ProtocolContext } from './adapters/protocol.js';
import type { ReplySummary } from './reply-summary.js';
import { baseHeaders } from './respond.js';
import { relayCompletion, upstreamBody, type CompletionBudget } from './completion-answer.js';
import { countChatPrompt, countMessageContent, countText } from './tokenize.js';
import { intake, settleAndRecord } from './intake.js';
import type { RelayDeps } from './relay-deps.js';
import type { RecordedMessage } from '../usage/usage-record.js';

export async function handleChat(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  const { principal, body, req } = await intake(r, incoming, chatRequestSchema);
  const order = await chooseChannels(r, principal, req.model);
  const conversation = await r.conversations.resolve(principal, incoming.headers['x-lyss-conversation-id'] as string | undefined);

  const stream = req.stream === true;
  const n = req.n ?? 1;
  const finite = principal.quota >= 0 || order.some((ch) => ch.quota >= 0);
  // Counting the prompt costs CPU; with no finite quota in play the reservation does not need it.
  const promptTokens = finite ? countChatPrompt(req.messages, req.tools) : -1;
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

  const budget: Omit<CompletionBudget, 'maxTokensField'> = {
    model: req.model,
    stream,
    streamOptions: req.stream_options,
    promptTokens: finite ? promptTokens : null,
    requestedMax,
    n,
  };

  // Returned, not awaited: this frame is not kept for as long as the answer streams.
  return attemptChannels(r, ctx, {
    principal,
    order,
    desired,
    minimum,
    build(channel, booking) {
      const protocol = protocolFor(channel);
      const out = upstreamBody(r, body, channel, booking, { ...budget, maxTokensField: protocol.maxTokensField(channel, body) });
      return protocol.call(channel, '/chat/completions', out, { defaultMaxTokens: r.config.LYSS_DEFAULT_MAX_TOKENS });
    },
    error: (channel, status, text) => protocolFor(channel).error(status, text),
    serve: (attempt) =>
      relayCompletion(r, ctx, attempt, protocolFor(attempt.channel), { stream, headers, pctx }).then((summary) =>
        finish(r, { principal, req, attempt, summary, promptTokens, conversation, ctx }),
      ),
  }).finally(() => r.conversations.ended(principal, conversation));
}

/** The completion tokens the upstream reported, or, if it did not, the gateway's count of what it said. */
export function completionTokens(summary: ReplySummary): number {
  return summary.usage?.completion_tokens ?? countText(summary.content + summary.toolCalls.map((t) => t.function.name + t.function.arguments).join(''));
}

/** Steps 8-9 for a chat answer: the messages it adds to its conversation, then settle and record. */
export async function finish(
  r: RelayDeps,
  a: { principal: Principal; req: ChatRequest; attempt: Attempt; summary: ReplySummary; promptTokens: number; conversation: ConversationRef; ctx: RequestContext },
): Promise<void> {
  const { principal, req, attempt, summary } = a;
  // The gateway's own count (-1: not made yet, no finite quota needed it) only where the upstream gave none.
  const prompt = summary.usage?.prompt_tokens ?? summary.reportedPromptTokens ?? (a.promptTokens >= 0 ? a.promptTokens : countChatPrompt(req.messages, req.tools));
  const completion = completionTokens(summary);
  const responseTimeMs = Date.now() - a.ctx.startedAt;
  const settings = { temperature: req.temperature ?? null, maxTokens: req.max_completion_tokens ?? req.max_tokens ?? null };
  const existed = a.conversation.stored;
  const added = newMessages(req.messages);
  const messages: RecordedMessage[] = [
    ...added.map((m) => {
      const content = textOf(m.content);
      // A string content was already counted for the prompt estimate (when a quota was in play).
      const tokenCount = typeof m.content === 'string' ? countMessageContent(m) : countText(content);
      return { role: m.role, content, tokenCount, toolCallId: m.tool_call_id ?? null };
    }),
    {
      role: 'assistant',
      content: summary.content,
      tokenCount: completion,
      toolCalls: summary.toolCalls.length ? summary.toolCalls : null,
      modelUsed: attempt.channel.modelMapping[req.model] ?? req.model,
      responseTimeMs,
    },
  ];
  await settleAndRecord(r, a.ctx, principal, attempt, {
    model: req.model,
    prompt,
    completion,
    // Without stored content, nothing of it may land anywhere: the title and system prompt are content too.
    conversation: principal.tenant.storeContent
      ? { id: a.conversation.id, existed, title: titleFrom(req.messages), systemPrompt: systemPromptOf(req.messages), ...settings, messages, messageCount: messages.length }
      : { id: a.conversation.id, existed, title: titleFrom([]), systemPrompt: null, ...settings, messages: [], messageCount: messages.length },
  });
}
