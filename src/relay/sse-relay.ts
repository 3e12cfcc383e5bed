/**
 * Relays an upstream SSE stream to the client as OpenAI chunks. A read whose events all go out as upstream
 * wrote them (an OpenAI-format upstream, the client asked for usage) is forwarded as its bytes, cut only where
 * the read ends an event; otherwise each event is re-framed from its data: the trailing `"usage":null` the
 * forced include_usage adds is cut for a client that did not ask, held chunks are left out, and translating
 * adapters map events to chunks. Every chunk is also summarised as it passes (usage, reply text, tool calls),
 * so a stream holds its summary and never its chunks.
 * Nothing is written to the client before the first upstream event, so a failure before it can still fail
 * over to another channel.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createParser } from 'eventsource-parser';
import type { ClientAbort } from './client-abort.js';
import type { UpstreamFailure } from './adapters/openai-errors.js';
import { ChunkSummary, withReportedPrompt, type ReplySummary } from './reply-summary.js';

export interface StreamMapper {
  /** OpenAI chunk payloads to send for one upstream event ('[DONE]' included as the literal string). */
  map(event: string | undefined, data: string): string[];
  /** Payloads to send when upstream ends cleanly (a translator's final chunks); may be empty. */
  end(): string[];
  /** The prompt tokens the upstream reported ahead of its usage chunk, if it does (see ReplySummary). */
  reportedPromptTokens?(): number | null;
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
  constructor(
    readonly causeError: unknown,
    /** Set when upstream answered with an error after all (a 200 whose body is one), judged as its status would be. */
    readonly failure?: UpstreamFailure,
  ) {
    super('upstream stream failed before its first event');
  }
}

/**
 * Nothing after [DONE] is part of the answer. Reading the rest keeps the upstream connection reusable; an
 * upstream that sends more than `limit` bytes, or has not ended within `ms`, loses its connection instead.
 */
function discardRest(body: Readable, limit = 64 * 1024, ms = 5_000): void {
  let bytes = 0;
  const timer = setTimeout(() => body.destroy(), ms).unref();
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > limit) body.destroy();
  });
  body.once('close', () => clearTimeout(timer));
  body.resume();
}

export const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

const LF = 0x0a;
const CR = 0x0d;

/** Where the last complete event in `bytes` ends (just after its blank line), or 0 when none has. */
function lastEventEnd(bytes: Buffer): number {
  for (let i = bytes.length - 1; i >= 1; i--) {
    if (bytes[i] === LF && (bytes[i - 1] === LF || (i >= 2 && bytes[i - 1] === CR && bytes[i - 2] === LF))) return i + 1;
  }
  return 0;
}

/** The bytes end with a blank line: every event in them is complete and nothing of the next has begun. */
function endsAnEvent(bytes: Buffer): boolean {
  const n = bytes.length;
  return n >= 2 && bytes[n - 1] === LF && (bytes[n - 2] === LF || (n >= 3 && bytes[n - 2] === CR && bytes[n - 3] === LF));
}

/** Relays an OpenAI-format stream (see the top of this file), driven by the body's events (relayBody). */
export function relaySse(opts: {
  body: Readable;
  res: ServerResponse;
  headers: OutgoingHttpHeaders;
  mapper: StreamMapper;
  /** Chunks the client must not see (a usage chunk it did not ask for, Azure filter chunks). */
  hold: (data: string) => boolean;
  abort: ClientAbort;
}): Promise<RelayedStream> {
  // Closures below keep what they name for the stream's life: not `opts`, and the headers only until sent.
  const { body, res, mapper, hold, abort } = opts;
  let headers: OutgoingHttpHeaders | null = opts.headers;
  const summary = new ChunkSummary();
  const result = () => withReportedPrompt(summary.result(), mapper.reportedPromptTokens?.() ?? null);
  /** The re-framed events to send next, or (`raw`) the upstream bytes that carry them unchanged. */
  let out = '';
  let raw: Buffer | null = null;
  let started = false;
  let sawDone = false;
  /** The bytes read so far end at an event boundary. */
  let aligned = true;
  /** Every event of the current read goes to the client exactly as upstream wrote it. */
  let verbatim = true;

  const emit = (payloads: string[]) => {
    for (const data of payloads) {
      // Whatever follows [DONE] (in the same read, or from a translator's end) is not part of the answer.
      if (sawDone) {
        verbatim = false;
        return;
      }
      if (data === '[DONE]') {
        sawDone = true;
        out += 'data: [DONE]\n\n';
        continue;
      }
      summary.add(data);
      if (hold(data)) verbatim = false;
      else out += `data: ${data}\n\n`;
    }
  };
  const parser = createParser({
    onEvent: (e) => {
      const payloads = mapper.map(e.event, e.data);
      if (e.event !== undefined || payloads.length !== 1 || payloads[0] !== e.data) verbatim = false;
      emit(payloads);
    },
  });
  const decoder = new TextDecoder();

  /** Writes what is pending, and with `last` ends the response; false when the socket asks us to wait for 'drain'. */
  const flush = (last = false): boolean => {
    if (!last && raw === null && out.length === 0) return true;
    if (!started) {
      started = true;
      res.writeHead(200, headers!);
      headers = null;
    }
    const bytes = raw;
    const text = out;
    raw = null;
    out = '';
    if (last) {
      if (bytes !== null && text.length > 0) res.write(bytes);
      res.end(bytes !== null && text.length === 0 ? bytes : text);
      return true;
    }
    let ok = true;
    if (bytes !== null) ok = res.write(bytes);
    if (text.length > 0) ok = res.write(text) && ok;
    return ok;
  };

  return relayBody<RelayedStream>(body, res, abort, {
    read(chunk) {
      const endsHere = endsAnEvent(chunk);
      // A byte-order mark is not for the client (the decoder drops it from what the parser sees).
      const whole = aligned && endsHere && !(chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf);
      aligned = endsHere;
      verbatim = true;
      parser.feed(decoder.decode(chunk, { stream: true }));
      // The read holds whole events only, each going out unchanged: its bytes are their framing already.
      if (whole && verbatim && out.length > 0) {
        raw = chunk;
        out = '';
      }
      if (sawDone) return 'done';
      return flush() ? 'more' : 'wait';
    },
    // The answer is whole: its last chunks and the response's end go out in one write.
    finish() {
      emit(mapper.end());
      if (!sawDone) {
        if (summary.count === 0) throw new Error('upstream stream ended without any event');
        if (!summary.finished) throw new Error('upstream stream ended before its final chunk');
        out += 'data: [DONE]\n\n';
      }
      flush(true);
      return { outcome: 'done', summary: result(), error: null };
    },
    started: () => started,
    // After the first byte the only honest end is an error frame; the stream then closes.
    cut(err) {
      out += `data: ${JSON.stringify({ error: { message: 'The upstream stream was interrupted.', type: 'server_error', param: null, code: 'upstream_error' } })}\n\n`;
      flush(true);
      return { outcome: 'upstream_cut', summary: result(), error: err };
    },
    gone: (err) => ({ outcome: 'client_closed', summary: result(), error: err }),
  });
}

/** What a relay does with each upstream read, at a clean end, and when the stream ends otherwise. */
export interface RelaySteps<R> {
  /** One read: 'wait' when the client's socket asks us to wait for 'drain', 'done' once the answer is whole. Throws to fail. */
  read(chunk: Buffer): 'more' | 'wait' | 'done';
  /** The answer is whole (upstream ended, or `read` said 'done'): writes what is left and ends the response. Throws to fail. */
  finish(): R;
  /** Whether anything reached the client yet; until then a failure rejects with BeforeFirstByteError (failover). */
  started(): boolean;
  /** Upstream failed after the first byte: ends the response with an error the client can read. */
  cut(err: unknown): R;
  /** The client went away. */
  gone(err: unknown): R;
}

/**
 * Drives a relay by the upstream body's events, not `for await`: one promise per stream instead of a few per
 * chunk, and nothing suspended per chunk (thousands of open streams each relay a chunk every few hundred ms).
 * Resolves once, with what `finish`, `cut` or `gone` made; rejects only with BeforeFirstByteError.
 */
export function relayBody<R>(body: Readable, res: ServerResponse, abort: ClientAbort, steps: RelaySteps<R>): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let over = false;
    const end = (result: R | BeforeFirstByteError) => {
      if (over) return;
      over = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onBodyClose);
      res.off('drain', onDrain);
      res.off('close', onClose);
      // The 'error' listener stays: an aborted or destroyed body may still emit one.
      if (result instanceof BeforeFirstByteError) reject(result);
      else resolve(result);
    };
    const clientClosed = (error: unknown) => {
      abort.abort();
      body.destroy();
      end(steps.gone(error));
    };
    const fail = (err: unknown) => {
      if (over) return;
      if (abort.aborted || res.destroyed) return clientClosed(err);
      body.destroy();
      end(steps.started() ? steps.cut(err) : new BeforeFirstByteError(err));
    };
    const onData = (chunk: Buffer) => {
      if (res.destroyed) return clientClosed(null);
      try {
        const next = steps.read(chunk);
        if (next === 'done') {
          end(steps.finish());
          discardRest(body);
        } else if (next === 'wait') body.pause();
      } catch (err) {
        fail(err);
      }
    };
    const onDrain = () => body.resume();
    const onEnd = () => {
      if (res.destroyed) return clientClosed(null);
      try {
        end(steps.finish());
      } catch (err) {
        fail(err);
      }
    };
    const onClose = () => {
      if (!res.writableFinished) clientClosed(null);
    };
    // A body destroyed without an error ends with 'close' and no 'end': upstream went away.
    const onBodyClose = () => fail(body.errored ?? new Error('upstream stream closed before its end'));
    if (res.destroyed) return clientClosed(null);
    if (body.destroyed) return fail(body.errored ?? new Error('upstream stream closed before the relay began'));
    body.on('error', fail);
    body.on('close', onBodyClose);
    body.on('end', onEnd);
    res.on('drain', onDrain);
    res.once('close', onClose);
    body.on('data', onData);
  });
}

/** How one stream's events are watched, translated and accounted (relayEvents). */
export interface EventSink {
  /** Upstream bytes go to the client unchanged; else the text `event` returns does. */
  passthrough: boolean;
  /** Watches one upstream event; returns the SSE text to send for it ('' when passing through). */
  event(name: string | undefined, data: string): string;
  /** Closing text once upstream ended; throws when the answer was cut short. */
  end(): string;
  /** From here on the client must see the stream; until then nothing is written, so a failure can fail over. */
  begun(): boolean;
  /** An error upstream reported inside the stream. */
  failed(): { code: string; message: string } | null;
  /** What the answer said (usage, reply text, tool calls), summarised as it passed. */
  result(): ReplySummary;
}

/**
 * Relays a stream of named events (Anthropic's, the Responses API's), driven by the body's events (relayBody).
 * Nothing is written before the sink says the answer has begun, so a failure up to then rejects with
 * BeforeFirstByteError and attemptChannels tries the next channel. After that, a failure ends the stream with
 * `cutFrame`.
 */
export function relayEvents(o: {
  body: Readable;
  res: ServerResponse;
  headers: OutgoingHttpHeaders;
  abort: ClientAbort;
  sink: EventSink;
  cutFrame: string;
}): Promise<{ outcome: StreamOutcome; error: unknown }> {
  const { res, sink, cutFrame } = o;
  let headers: OutgoingHttpHeaders | null = o.headers;
  let out = '';
  let raw: Buffer[] = [];
  /** Passed-through bytes of an event not yet complete: held back, so a cut never leaves half an event before `cutFrame`. */
  let partial: Buffer | null = null;
  let started = false;
  const parser = createParser({ onEvent: (e) => (out += sink.event(e.event, e.data)) });
  const decoder = new TextDecoder();

  /** Writes what is pending once the answer has begun (or `force`); false when the socket asks to wait for 'drain'. */
  const flush = (force: boolean): boolean => {
    if (!started) {
      if (!force && !sink.begun()) return true;
      started = true;
      res.writeHead(200, headers!);
      headers = null;
    }
    const data = sink.passthrough ? Buffer.concat(raw) : out;
    raw = [];
    out = '';
    return data.length === 0 || res.write(data);
  };

  /** Queues a read's bytes for the client up to its last complete event; the rest waits for the next read. */
  const pass = (chunk: Buffer) => {
    const bytes = partial === null ? chunk : Buffer.concat([partial, chunk]);
    const end = endsAnEvent(bytes) ? bytes.length : lastEventEnd(bytes);
    if (end > 0) raw.push(end === bytes.length ? bytes : bytes.subarray(0, end));
    partial = end === bytes.length ? null : bytes.subarray(end);
  };

  return relayBody<{ outcome: StreamOutcome; error: unknown }>(o.body, res, o.abort, {
    read(chunk) {
      if (sink.passthrough) pass(chunk);
      parser.feed(decoder.decode(chunk, { stream: true }));
      const failure = sink.failed();
      if (failure && !started) throw new Error(`upstream stream error: ${failure.code}: ${failure.message}`);
      return flush(false) ? 'more' : 'wait';
    },
    finish() {
      out += sink.end();
      // A clean end: whatever the upstream wrote last goes out as it came.
      if (partial !== null) raw.push(partial);
      flush(true);
      res.end();
      const failure = sink.failed();
      return failure ? { outcome: 'upstream_cut', error: failure } : { outcome: 'done', error: null };
    },
    started: () => started,
    cut(err) {
      res.end(cutFrame);
      return { outcome: 'upstream_cut', error: err };
    },
    gone: (err) => ({ outcome: 'client_closed', error: err }),
  });
}
