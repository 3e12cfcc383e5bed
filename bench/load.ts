/**
 * The load generators. Every run is bounded in time and ends gracefully: when the time is up no new request
 * starts and every request in flight is answered, so the responses counted are exactly the requests each
 * server completed (the usage check compares them with PostgreSQL row for row).
 * - saturate: autocannon, closed loop, N connections (latencies kept at full precision from its events,
 *   because its own histogram rounds to whole milliseconds);
 * - paced: an open-loop fixed rate (one request every 1/rate s) over an undici Pool; autocannon's
 *   `overallRate` instead sends each connection's share in a burst at the top of every second, which measures
 *   queueing, not latency;
 * - openStreams: thousands of concurrent slow SSE streams over node:http;
 * - firstSuccess: polls until one chat completion succeeds (cold start).
 */
import http from 'node:http';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import v8 from 'node:v8';
import vm from 'node:vm';
import { sleep } from './procs.js';

v8.setFlagsFromString('--expose-gc');
const fullGc = vm.runInNewContext('gc') as () => void;

export interface Req {
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  /** 2xx answers whose body checked out. */
  ok: number;
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** 2xx answers whose body was wrong (no usage, stream without [DONE]). */
  mismatches: number;
  /** Requests sent but never answered (0 when the run ended gracefully). */
  unanswered: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** Sum of total_tokens the clients received in usage. */
  usage: number;
}

/** Nearest-rank percentile of a list of milliseconds. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
}

const TOTAL_TOKENS = /"total_tokens":(\d+)/g;

/** total_tokens of the last usage object in a body; null when there is none. */
export function usageTotal(body: string): number | null {
  let last: string | undefined;
  for (const m of body.matchAll(TOTAL_TOKENS)) last = m[1];
  return last === undefined ? null : Number(last);
}

/** Checks a chat completion body (JSON or SSE) and returns its usage total, or null when it is not a valid answer. */
export function checkBody(body: string, stream: boolean): number | null {
  if (stream && !body.endsWith('data: [DONE]\n\n')) return null;
  if (!stream && !body.includes('"chat.completion"')) return null;
  return usageTotal(body);
}

class Latencies {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/**
 * Closed-loop saturation with autocannon: `connections` connections for `seconds`, then a graceful stop.
 * Answers are counted here from autocannon's events, and the run resolves as soon as the last connection is
 * done (autocannon itself would report only at its next one-second tick).
 */
export function saturate(opts: { url: string; connections: number; seconds: number; requests: readonly Req[]; stream: boolean }): Promise<LoadResult> {
  const { pathname } = new URL(opts.url);
  const clients: autocannon.Client[] = [];
  // Each connection cycles its own slice of the variants, so all tokens are in use from the first second.
  const slices: autocannon.Request[][] = Array.from({ length: opts.connections }, () => []);
  opts.requests.forEach((r, i) => slices[i % opts.connections]!.push({ method: 'POST', path: pathname, headers: r.headers, body: r.body }));
  let usage = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let mismatches = 0;
  let done = 0;
  const latencies = new Latencies();
  const startedAt = performance.now();
  let lastAt = startedAt;

  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(graceful);
      clearTimeout(hardStop);
      const sent = clients.reduce((n, c) => n + c.reqsMade, 0);
      const seconds = (lastAt - startedAt) / 1000;
      const values = latencies.values();
      resolve({
        ok,
        non2xx,
        errors,
        mismatches,
        unanswered: Math.max(0, sent - ok - mismatches - non2xx - errors),
        seconds,
        rps: ok / seconds,
        p50: percentile(values, 0.5),
        p99: percentile(values, 0.99),
        usage,
      });
    };
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        // The real end is the graceful stop below; this only bounds a run that could not stop.
        duration: opts.seconds + 60,
        timeout: 30,
        method: 'POST',
        setupClient: (client) => {
          client.setRequests(slices[clients.length % slices.length]!);
          clients.push(client);
          client.on('done', () => {
            // The last answer's body check runs right after 'done'; count it first.
            if (++done === opts.connections) setImmediate(finish);
          });
        },
        verifyBody: (body) => {
          if (body.startsWith('{"error"')) return true; // a non-2xx answer, counted as such
          const total = checkBody(body, opts.stream);
          if (total === null) {
            // Counted as a 2xx with a bad body; 'response' already counted it as ok.
            ok--;
            mismatches++;
            return true;
          }
          usage += total;
          return true;
        },
      },
      (err) => {
        if (err) return reject(err);
        finish();
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      lastAt = performance.now();
      if (status >= 200 && status < 300) {
        ok++;
        latencies.push(ms);
      } else non2xx++;
    });
    instance.on('reqError', () => {
      errors++;
    });
    // Time is up: each connection stops after the answer it is waiting for (autocannon's own stop would cut it).
    const graceful = setTimeout(() => {
      for (const c of clients) c.responseMax = Math.max(1, c.reqsMade);
    }, opts.seconds * 1000);
    const hardStop = setTimeout(() => instance.stop(), (opts.seconds + 45) * 1000);
  });
}

/**
 * Open-loop fixed rate: one request every 1000/rate ms for `leadInSeconds` + `seconds`, whatever the answers
 * do. Answers of the lead-in count (ok, usage) but their latencies do not: the figures are the steady state at
 * that rate, not the server's change from what ran before (a gateway's limit leases, sized for a saturation
 * run and given back while it sat idle, are taken again over the first seconds); `seconds`, `rps` and
 * `maxLagMs` cover the lead-in too. `onAnswer` gets each measured 2xx answer's start (performance.now()) and
 * latency, both in ms.
 */
export async function paced(opts: {
  url: string;
  rate: number;
  seconds: number;
  leadInSeconds?: number;
  requests: readonly Req[];
  stream: boolean;
  onAnswer?: (startMs: number, ms: number) => void;
}): Promise<LoadResult & { maxLagMs: number }> {
  const url = new URL(opts.url);
  const pool = new Pool(url.origin, { connections: 128, keepAliveTimeout: 30_000 });
  const leadIn = Math.round(opts.rate * (opts.leadInSeconds ?? 0));
  const total = leadIn + Math.round(opts.rate * opts.seconds);
  const latencies = new Latencies();
  const inflight = new Set<Promise<void>>();
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let mismatches = 0;
  let usage = 0;
  let maxLagMs = 0;
  let sent = 0;

  const fire = (i: number, due: number) => {
    const r = opts.requests[i % opts.requests.length]!;
    const t0 = performance.now();
    maxLagMs = Math.max(maxLagMs, t0 - due);
    const p = pool
      .request({ path: url.pathname, method: 'POST', headers: r.headers, body: r.body, headersTimeout: 30_000, bodyTimeout: 30_000 })
      .then(async (res) => {
        const text = await res.body.text();
        const ms = performance.now() - t0;
        if (res.statusCode < 200 || res.statusCode >= 300) {
          non2xx++;
          return;
        }
        const total = checkBody(text, opts.stream);
        if (total === null) {
          mismatches++;
          return;
        }
        ok++;
        usage += total;
        if (i < leadIn) return;
        latencies.push(ms);
        opts.onAnswer?.(t0, ms);
      })
      .catch(() => {
        errors++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  // The generator's own heap holds what earlier scenarios left (a saturation run's garbage): collected now,
  // its mark-compact would run on the machine's cores in the measured window, beside the server measured.
  fullGc();
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      const due = Math.min(total, Math.floor((elapsed / 1000) * opts.rate) + 1);
      while (sent < due) {
        fire(sent, start + (sent * 1000) / opts.rate);
        sent++;
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  // Bounded: every request has its own 30 s timeouts.
  while (inflight.size > 0) await Promise.race(inflight);
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  const values = latencies.values();
  return {
    ok,
    non2xx,
    errors,
    mismatches,
    unanswered: 0,
    seconds,
    rps: ok / seconds,
    p50: percentile(values, 0.5),
    p99: percentile(values, 0.99),
    usage,
    maxLagMs,
  };
}

export interface StreamsResult {
  requested: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** 200 streams that ended without [DONE] or usage. */
  incomplete: number;
  /** Socket errors by code (ECONNRESET, timeout, ...). */
  errorKinds: Record<string, number>;
  /** Most streams open at once (answer started, not finished). */
  peakOpen: number;
  /** Time to the first byte of the answer, and the whole stream, in ms. */
  ttfbP50: number;
  ttfbP99: number;
  durationP50: number;
  durationP99: number;
  seconds: number;
  usage: number;
}

/** `count` concurrent SSE streams, opened over `rampMs`, each read to its end; bounded by `timeoutMs` each. */
export async function openStreams(opts: { port: number; path: string; count: number; rampMs: number; requests: readonly Req[]; timeoutMs: number }): Promise<StreamsResult> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: opts.count, maxTotalSockets: opts.count });
  let open = 0;
  let peakOpen = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let incomplete = 0;
  let usage = 0;
  const errorKinds: Record<string, number> = {};
  const kind = (err: unknown) => {
    const k = (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.message : String(err));
    errorKinds[k] = (errorKinds[k] ?? 0) + 1;
  };
  const ttfb: number[] = [];
  const durations: number[] = [];

  const one = (r: Req) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      let settled = false;
      let counted = false;
      const done = (kind: 'ok' | 'non2xx' | 'error' | 'incomplete') => {
        if (settled) return;
        settled = true;
        if (counted) open--;
        if (kind === 'ok') ok++;
        else if (kind === 'non2xx') non2xx++;
        else if (kind === 'error') errors++;
        else incomplete++;
        resolve();
      };
      const req = http.request(
        { agent, host: '127.0.0.1', port: opts.port, path: opts.path, method: 'POST', headers: { ...r.headers, 'content-length': Buffer.byteLength(r.body) } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            res.on('end', () => done('non2xx'));
            res.on('error', (err) => {
              kind(err);
              done('error');
            });
            return;
          }
          counted = true;
          open++;
          if (open > peakOpen) peakOpen = open;
          let tail = '';
          let first = true;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (first) {
              first = false;
              ttfb.push(performance.now() - t0);
            }
            tail = (tail + chunk).slice(-4096);
          });
          res.on('end', () => {
            durations.push(performance.now() - t0);
            const total = checkBody(tail, true);
            if (total === null) return done('incomplete');
            usage += total;
            done('ok');
          });
          res.on('error', (err) => {
            kind(err);
            done('error');
          });
        },
      );
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        if (!settled) kind(err);
        done('error');
      });
      req.end(r.body);
    });

  const start = performance.now();
  const all: Promise<void>[] = [];
  const batch = Math.max(1, Math.ceil(opts.count / Math.max(1, opts.rampMs / 20)));
  for (let i = 0; i < opts.count; i += batch) {
    for (let j = i; j < Math.min(opts.count, i + batch); j++) all.push(one(opts.requests[j % opts.requests.length]!));
    await sleep(20);
  }
  await Promise.all(all);
  agent.destroy();
  return {
    requested: opts.count,
    ok,
    non2xx,
    errors,
    incomplete,
    errorKinds,
    peakOpen,
    ttfbP50: percentile(ttfb, 0.5),
    ttfbP99: percentile(ttfb, 0.99),
    durationP50: percentile(durations, 0.5),
    durationP99: percentile(durations, 0.99),
    seconds: (performance.now() - start) / 1000,
    usage,
  };
}

/** Polls with one chat completion every 10 ms until one succeeds; the time from `since` and its usage. */
export async function firstSuccess(opts: { url: string; request: Req; since: number; timeoutMs: number }): Promise<{ ms: number; usage: number; attempts: number }> {
  let attempts = 0;
  while (performance.now() - opts.since < opts.timeoutMs) {
    attempts++;
    try {
      const res = await fetch(opts.url, { method: 'POST', headers: opts.request.headers, body: opts.request.body, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      if (res.status === 200) {
        const total = checkBody(text, false);
        if (total === null) throw new Error(`cold start: a 200 without usage: ${text.slice(0, 200)}`);
        return { ms: performance.now() - opts.since, usage: total, attempts };
      }
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('cold start:')) throw err;
      // Not listening yet.
    }
    await sleep(10);
  }
  throw new Error(`no successful chat completion within ${opts.timeoutMs} ms`);
}
