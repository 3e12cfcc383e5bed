/**
 * Relays an upstream SSE stream to the client as OpenAI chunks. For OpenAI-format upstreams each event's
 * data goes out unchanged (only the SSE framing is rewritten, and the trailing `"usage":null` the forced
 * include_usage adds is cut for a client that did not ask); translating adapters map events to chunks. Every
 * chunk is also summarised as it passes (usage, reply text, tool calls), so a stream holds its summary and
 * never its chunks.
 * Nothing is written to the client before the first upstream event, so a failure before it can still fail
 * over to another channel.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { writeWithBackpressure } from './respond.js';
import { createParser } from 'eventsource-parser';
import type { ClientAbort } from './client-abort.js';
import { ChunkSummary, type ReplySummary } from './reply-summary.js';

export interface StreamMapper {
  /** OpenAI chunk payloads to send for one upstream event ('[DONE]' included as the literal string). */
  map(event: string | undefined, data: string): string[];
  /** Payloads to send when upstream ends cleanly (a translator's final chunks); may be empty. */
  end(): string[];
}

export type StreamOutcome = 'done' | 'client_closed' | 'upstream_cut';

export interface RelayedStream {
  outcome: StreamOutcome;
  /** What every chunk produced (sent or held back) said, for accounting. */
  summary: ReplySummary;
  error: unknown;
}

/** Thrown when upstream failed before anything reached the client: the caller may try another channel. */
export class BeforeFirstByteError extends Error {
  constructor(readonly causeError: unknown) {
    super('upstream stream failed before its first event');
  }
}

export const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export async function relaySse(opts: {
  body: AsyncIterable<Buffer>;
  res: ServerResponse;
  headers: OutgoingHttpHeaders;
  mapper: StreamMapper;
  /** Chunks the client must not see (a usage chunk it did not ask for, Azure filter chunks). */
  hold: (data: string) => boolean;
  abort: ClientAbort;
}): Promise<RelayedStream> {
  const { res, mapper } = opts;
  const summary = new ChunkSummary();
  let out = '';
  let started = false;
  let sawDone = false;

  const emit = (payloads: string[]) => {
    for (const data of payloads) {
      if (data === '[DONE]') {
        sawDone = true;
        out += 'data: [DONE]\n\n';
        continue;
      }
      summary.add(data);
      if (!opts.hold(data)) out += `data: ${data}\n\n`;
    }
  };
  const parser = createParser({ onEvent: (e) => emit(mapper.map(e.event, e.data)) });
  const decoder = new TextDecoder();

  const flush = async () => {
    if (out.length === 0) return;
    if (!started) {
      started = true;
      res.writeHead(200, opts.headers);
    }
    const data = out;
    out = '';
    await writeWithBackpressure(res, data);
  };

  const onClose = () => {
    if (!res.writableFinished) opts.abort.abort();
  };
  res.once('close', onClose);
  try {
    for await (const chunk of opts.body) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      await flush();
      if (res.destroyed) break;
    }
    if (res.destroyed) return { outcome: 'client_closed', summary: summary.result(), error: null };
    emit(mapper.end());
    if (!sawDone) {
      if (summary.count === 0) throw new Error('upstream stream ended without any event');
      if (!summary.finished) throw new Error('upstream stream ended before its final chunk');
      out += 'data: [DONE]\n\n';
    }
    await flush();
    res.end();
    return { outcome: 'done', summary: summary.result(), error: null };
  } catch (err) {
    if (opts.abort.aborted || res.destroyed) return { outcome: 'client_closed', summary: summary.result(), error: err };
    if (!started) throw new BeforeFirstByteError(err);
    // After the first byte the only honest end is an error frame; the stream then closes.
    out += `data: ${JSON.stringify({ error: { message: 'The upstream stream was interrupted.', type: 'server_error', param: null, code: 'upstream_error' } })}\n\n`;
    await flush().catch(() => {});
    res.end();
    return { outcome: 'upstream_cut', summary: summary.result(), error: err };
  } finally {
    res.off('close', onClose);
  }
}
