/**
 * POST /v1/completions (legacy) and POST /v1/embeddings, served by OpenAI-format and Azure channels only.
 * Embeddings answers pass through as they stream in (they can be tens of megabytes); the usage object sits
 * at the end of the JSON, so only the tail is kept to read it.
 */
import type { IncomingMessage } from 'node:http';
import { completionRequestSchema, embeddingRequestSchema } from './chat-request.js';
import { chooseChannels, type EndpointScope } from './channel-choice.js';
import { attemptChannels, type Attempt, type RequestContext } from './attempts.js';
import { release } from './booking.js';
import { protocolFor } from './adapters/index.js';
import { BeforeFirstByteError } from './sse-relay.js';
import { baseHeaders, writeWithBackpressure } from './respond.js';
import { relayCompletion, upstreamBody, type CompletionBudget } from './completion-answer.js';
import { countInput, countText } from './tokenize.js';
import { reportedTokens } from './reply-summary.js';
import { intake, settleAndRecord } from './intake.js';
import type { RelayDeps } from './relay-deps.js';
import type { Principal } from '../tokens/principal.js';

/** Anthropic's API has neither endpoint. */
const OPENAI_FORMATS: EndpointScope = { offers: (c) => c.format !== 'anthropic', othersOffer: 'offer chat completions only' };

export async function handleCompletions(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  const { principal, body, req } = await intake(r, incoming, completionRequestSchema);
  const order = await chooseChannels(r, principal, req.model, OPENAI_FORMATS);
  const stream = req.stream === true;
  const n = completionsGenerated(req);
  const finite = principal.quota >= 0 || order.some((ch) => ch.quota >= 0);
  let promptTokens = finite ? countInput(req.prompt) : -1;
  const requestedMax = req.max_tokens ?? null;
  // The legacy endpoint's default max_tokens is 16.
  const desired = finite ? r.pricing.units(req.model, promptTokens + n * (requestedMax ?? 16)) : 0;
  const minimum = finite ? r.pricing.units(req.model, promptTokens + n) : 0;
  const pctx = { id: `cmpl-${ctx.requestId}`, created: Math.floor(Date.now() / 1000), model: req.model, includeUsage: stream && req.stream_options?.include_usage === true };
  const headers = baseHeaders(ctx.requestId);

  const budget: CompletionBudget = {
    model: req.model,
    stream,
    streamOptions: req.stream_options,
    promptTokens: finite ? promptTokens : null,
    requestedMax,
    n,
    maxTokensField: 'max_tokens',
  };

  // Returned and chained, not awaited: no frame stays suspended for as long as the answer streams.
  return attemptChannels(r, ctx, {
    principal,
    order,
    desired,
    minimum,
    build: (channel, booking) => protocolFor(channel).call(channel, '/completions', upstreamBody(r, body, channel, booking, budget)),
    error: (channel, status, text) => protocolFor(channel).error(status, text),
    serve: (attempt) =>
      relayCompletion(r, ctx, attempt, protocolFor(attempt.channel), { stream, headers, pctx }).then((summary) => {
        if (promptTokens < 0 && !summary.usage) promptTokens = countInput(req.prompt);
        const prompt = summary.usage?.prompt_tokens ?? promptTokens;
        const completion = summary.usage?.completion_tokens ?? countText(summary.content);
        return record(r, principal, attempt, req.model, prompt, completion, ctx);
      }),
  });
}

/**
 * How many completions upstream generates, each up to max_tokens: `max(n, best_of)` for each prompt of a
 * list (a list of strings or of token arrays is a batch; a string or one token array is one prompt). The
 * reservation and the cap count them all, as upstream bills them all.
 */
function completionsGenerated(req: { prompt: string | string[] | number[] | number[][]; n?: number | null; best_of?: number | null }): number {
  const prompts = typeof req.prompt === 'string' || typeof req.prompt[0] === 'number' ? 1 : Math.max(1, req.prompt.length);
  return prompts * Math.max(req.n ?? 1, req.best_of ?? 1);
}

export async function handleEmbeddings(r: RelayDeps, incoming: IncomingMessage, ctx: RequestContext): Promise<void> {
  const { principal, body, req } = await intake(r, incoming, embeddingRequestSchema);
  const order = await chooseChannels(r, principal, req.model, OPENAI_FORMATS);
  const finite = principal.quota >= 0 || order.some((ch) => ch.quota >= 0);
  const promptTokens = finite ? countInput(req.input) : -1;
  const units = finite ? r.pricing.units(req.model, promptTokens) : 0;

  await attemptChannels(r, ctx, {
    principal,
    order,
    desired: units,
    minimum: units,
    build: (channel) => protocolFor(channel).call(channel, '/embeddings', { ...body, model: channel.modelMapping[req.model] ?? req.model }),
    error: (channel, status, text) => protocolFor(channel).error(status, text),
    async serve(attempt) {
      const res = ctx.res;
      const body = attempt.response.body[Symbol.asyncIterator]();
      // Nothing goes to the client before the first bytes are in hand: until then another channel may serve.
      let next: IteratorResult<Buffer>;
      try {
        next = await body.next();
      } catch (err) {
        throw new BeforeFirstByteError(err);
      }
      const length = attempt.response.headers['content-length'];
      res.writeHead(200, { ...baseHeaders(ctx.requestId), 'content-type': 'application/json', ...(typeof length === 'string' ? { 'content-length': length } : {}) });
      let tail = '';
      try {
        for (; !next.done; next = await body.next()) {
          tail = (tail + next.value.toString('latin1')).slice(-4096);
          if (res.destroyed) break;
          await writeWithBackpressure(res, next.value);
        }
      } catch (err) {
        // Cut mid-answer: no usable answer, nothing to bill. Ending the response normally would hand the client
        // a truncated JSON that looks complete; dropping the connection tells it the truth.
        await body.return?.().catch(() => undefined);
        await release(r.store, attempt.booking).catch((e) => r.logger.error('quota release failed; the reservation will expire', { err: e, requestId: ctx.requestId }));
        r.logger.warn('upstream embeddings answer cut', { requestId: ctx.requestId, channelId: attempt.channel.id, err });
        res.destroy();
        return;
      }
      if (res.destroyed) await body.return?.().catch(() => undefined);
      res.end();
      const reported = reportedTokens(Number(/"prompt_tokens"\s*:\s*(\d+)/.exec(tail)?.[1]));
      const prompt = reported ?? (promptTokens >= 0 ? promptTokens : countInput(req.input));
      await record(r, principal, attempt, req.model, prompt, 0, ctx);
    },
  });
}

function record(r: RelayDeps, principal: Principal, attempt: Attempt, model: string, prompt: number, completion: number, ctx: RequestContext): Promise<void> {
  return settleAndRecord(r, ctx, principal, attempt, { model, prompt, completion, conversation: null });
}
