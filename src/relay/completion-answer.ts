/**
 * What chat and legacy completions share once the quota is known: the upstream body (model mapped, usage
 * always requested, max_tokens capped to the reservation) and the answer (relayed as a stream or whole).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Channel } from '../channels/channel.js';
import type { Attempt, RequestContext } from './attempts.js';
import type { Booking } from './booking.js';
import { refuseErrorAnswer, type Protocol, type ProtocolContext } from './adapters/protocol.js';
import { BeforeFirstByteError, relaySse, SSE_HEADERS } from './sse-relay.js';
import { summarizeCompletion, type ReplySummary } from './reply-summary.js';
import { MAX_UPSTREAM_JSON, readBody, sendJsonText } from './respond.js';
import type { RelayDeps } from './relay-deps.js';


export interface CompletionBudget {
  model: string;
  stream: boolean;
  streamOptions: Record<string, unknown> | null | undefined;
  /** null when no finite quota is in play: then the request is sent as the client wrote it. */
  promptTokens: number | null;
  requestedMax: number | null;
  /** Completions upstream generates, each up to the cap: the cap is the reservation's completion share over them. */
  n: number;
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
}

export function upstreamBody(r: RelayDeps, body: Record<string, unknown>, channel: Channel, booking: Booking, b: CompletionBudget): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body, model: channel.modelMapping[b.model] ?? b.model };
  // Always ask for usage; the usage chunk reaches the client only if it asked (see Protocol.hold).
  if (b.stream) out.stream_options = { ...(b.streamOptions ?? {}), include_usage: true };
  if (b.promptTokens !== null) {
    const allowed = Math.floor((r.pricing.tokensFor(b.model, booking.reserved) - b.promptTokens) / b.n);
    const cap = b.requestedMax === null ? allowed : Math.min(b.requestedMax, allowed);
    // The cap goes in the field this channel reads, and lowers the other where the client set it higher: an
    // upstream that reads that one instead must not run past the reservation either.
    for (const field of CAP_FIELDS) {
      const set = body[field];
      const fits = typeof set === 'number' && set <= cap;
      if (field === b.maxTokensField ? !fits : set != null && !fits) out[field] = cap;
    }
  }
  return out;
}

const CAP_FIELDS = ['max_tokens', 'max_completion_tokens'] as const;

/** How an answer goes out: the headers every answer carries, and what the protocol's translation needs. */
interface AnswerOptions {
  headers: OutgoingHttpHeaders;
  pctx: ProtocolContext;
}

/** Sends the answer to the client and returns what it said. Throws BeforeFirstByteError to fail over. */
export function relayCompletion(r: RelayDeps, ctx: RequestContext, attempt: Attempt, protocol: Protocol, o: AnswerOptions & { stream: boolean }): Promise<ReplySummary> {
  return o.stream ? relayStream(r, ctx, attempt, protocol, o) : relayWhole(ctx, attempt, protocol, o);
}

/** Not an async function: nothing of it stays suspended for the minutes a stream may last. */
function relayStream(r: RelayDeps, ctx: RequestContext, attempt: Attempt, protocol: Protocol, o: AnswerOptions): Promise<ReplySummary> {
  const { requestId } = ctx;
  const { pctx } = o;
  return relaySse({
    body: attempt.response.body,
    res: ctx.res,
    headers: { ...o.headers, ...SSE_HEADERS },
    mapper: protocol.streamMapper(pctx),
    hold: (data) => protocol.hold(data, pctx),
    abort: ctx.abort,
  }).then((relayed) => {
    if (relayed.outcome !== 'done') r.logger.info('stream ended early', { requestId, outcome: relayed.outcome, err: relayed.error });
    return relayed.summary;
  });
}

async function relayWhole(ctx: RequestContext, attempt: Attempt, protocol: Protocol, o: AnswerOptions): Promise<ReplySummary> {
  let text: string;
  let parsed: unknown;
  try {
    const raw = await readBody(attempt.response.body, MAX_UPSTREAM_JSON);
    refuseErrorAnswer(protocol, raw);
    text = protocol.reply(raw, o.pctx) ?? raw;
    parsed = JSON.parse(text);
  } catch (err) {
    throw err instanceof BeforeFirstByteError ? err : new BeforeFirstByteError(err);
  }
  sendJsonText(ctx.res, 200, text, o.headers);
  return summarizeCompletion(parsed);
}
