/** Load loops bounded in time and count, and /readyz polling, for tests that break things while traffic flows. */
import { httpGet } from './gateway-process.js';
import { chat, type ChatOptions, type ChatOutcome } from './load.js';

/** `workers` loops, each sending one request after another until `untilMs` passes or `maxRequests` are sent. */
export async function drive(
  baseUrl: string | (() => string),
  opts: ChatOptions & { workers: number; durationMs: number; maxRequests?: number; pauseMs?: number; stopWhen?: (o: ChatOutcome) => boolean },
): Promise<ChatOutcome[]> {
  const until = Date.now() + opts.durationMs;
  const max = opts.maxRequests ?? 100_000;
  const outcomes: ChatOutcome[] = [];
  let sent = 0;
  const url = typeof baseUrl === 'string' ? () => baseUrl : baseUrl;
  await Promise.all(
    Array.from({ length: opts.workers }, async () => {
      while (Date.now() < until && sent < max) {
        sent++;
        const o = await chat(url(), opts);
        outcomes.push(o);
        if (opts.stopWhen?.(o)) break;
        if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
      }
    }),
  );
  return outcomes;
}

export interface Readiness {
  status: number;
  body: { status?: string; checks?: Record<string, string>; counters?: Record<string, number> } | null;
}

export async function readyz(baseUrl: string): Promise<Readiness> {
  try {
    const res = await httpGet(`${baseUrl}/readyz`);
    return { status: res.status, body: JSON.parse(res.body) as Readiness['body'] };
  } catch {
    return { status: 0, body: null };
  }
}
