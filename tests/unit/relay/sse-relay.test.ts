/**
 * relaySse on a real HTTP response: how a stream ends. Upstream's [DONE] ends the answer at once (its last
 * chunks and the response's end in one write, whatever upstream sends later dropped and drained); an upstream
 * that ends without [DONE] after a final chunk gets one added; one that ends before it is an error frame.
 * And what goes out: upstream's own bytes for a read of whole events that all pass unchanged, re-framed
 * events for any other read.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientAbort } from '../../../src/relay/client-abort.js';
import { relaySse, SSE_HEADERS, type RelayedStream } from '../../../src/relay/sse-relay.js';

const passthrough = { map: (_e: string | undefined, data: string) => [data], end: () => [] };
const chunk = (content: string, finish: string | null = null) =>
  JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: finish }] });

interface Run {
  /** What the client received. */
  text: Promise<string>;
  /** The response's write() and end() calls, with what each carried. */
  writes: string[];
  relayed: Promise<RelayedStream>;
  body: PassThrough;
}

let server: http.Server | null = null;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(null)));
  server = null;
});

type Mapper = Parameters<typeof relaySse>[0]['mapper'];

async function relay(opts: { mapper?: Mapper; hold?: (data: string) => boolean } = {}): Promise<Run> {
  const body = new PassThrough();
  const writes: string[] = [];
  let relayed!: Promise<RelayedStream>;
  const started = new Promise<void>((ready) => {
    server = http.createServer((_req, res) => {
      const { write, end } = res;
      res.write = function (this: http.ServerResponse, data: unknown, ...rest: unknown[]) {
        writes.push(`write:${String(data)}`);
        return (write as (...a: unknown[]) => boolean).call(this, data, ...rest);
      } as typeof res.write;
      res.end = function (this: http.ServerResponse, data?: unknown, ...rest: unknown[]) {
        writes.push(`end:${data === undefined ? '' : String(data)}`);
        return (end as (...a: unknown[]) => http.ServerResponse).call(this, data, ...rest);
      } as typeof res.end;
      relayed = relaySse({ body, res, headers: SSE_HEADERS, mapper: opts.mapper ?? passthrough, hold: opts.hold ?? (() => false), abort: new ClientAbort() });
      relayed.catch(() => {});
      ready();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server!.address() as AddressInfo).port;
  const text = fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
  await started;
  return { text, writes, relayed, body };
}

describe('relaySse: the end of a stream', () => {
  it("ends the answer at upstream's [DONE]: last chunks and the end in one write, later bytes dropped and drained", async () => {
    const run = await relay();
    run.body.write(`data: ${chunk('Hel')}\n\n`);
    await new Promise((r) => setTimeout(r, 20));
    run.body.write(`data: ${chunk('lo', 'stop')}\n\ndata: [DONE]\n\ndata: {"same":"read"}\n\n`);
    const result = await run.relayed;
    // Upstream still talks after [DONE]: none of it reaches the client, and the body is read to its end.
    run.body.write('data: {"late":true}\n\n');
    run.body.end();
    await new Promise((r) => run.body.once('end', r));

    expect(result.outcome).toBe('done');
    expect(result.summary.content).toBe('Hello');
    expect(run.writes).toEqual([`write:data: ${chunk('Hel')}\n\n`, `end:data: ${chunk('lo', 'stop')}\n\ndata: [DONE]\n\n`]);
    expect(await run.text).toBe(`data: ${chunk('Hel')}\n\ndata: ${chunk('lo', 'stop')}\n\ndata: [DONE]\n\n`);
  });

  it('lets go of an upstream that keeps talking after [DONE] (more than 64 KB)', async () => {
    const run = await relay();
    run.body.write(`data: ${chunk('Hi', 'stop')}\n\ndata: [DONE]\n\n`);
    await run.relayed;
    const closed = new Promise((r) => run.body.once('close', r));
    for (let i = 0; i < 10 && !run.body.destroyed; i++) run.body.write(`: ${'x'.repeat(16 * 1024)}\n\n`);
    await closed;
    expect(run.body.destroyed).toBe(true);
    expect(await run.text).toBe(`data: ${chunk('Hi', 'stop')}\n\ndata: [DONE]\n\n`);
  });

  it('adds [DONE] when upstream ends after its final chunk without one', async () => {
    const run = await relay();
    run.body.end(`data: ${chunk('Hi', 'stop')}\n\n`);
    const result = await run.relayed;
    expect(result.outcome).toBe('done');
    expect(await run.text).toBe(`data: ${chunk('Hi', 'stop')}\n\ndata: [DONE]\n\n`);
  });

  it('ends with an error frame when upstream ends before its final chunk', async () => {
    const run = await relay();
    run.body.write(`data: ${chunk('Hi')}\n\n`);
    await new Promise((r) => setTimeout(r, 20));
    run.body.end();
    const result = await run.relayed;
    expect(result.outcome).toBe('upstream_cut');
    const text = await run.text;
    expect(text.startsWith(`data: ${chunk('Hi')}\n\n`)).toBe(true);
    expect(text).toContain('"code":"upstream_error"');
    expect(text).not.toContain('[DONE]');
  });
});

describe('relaySse: what goes out', () => {
  const usage = JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } });
  const tick = () => new Promise((r) => setTimeout(r, 20));

  it("forwards a read of whole events that pass unchanged as upstream's bytes (its spacing, CRLF and comments too)", async () => {
    const run = await relay();
    const first = `: keep-alive\r\ndata:${chunk('Hel')}\r\n\r\n`;
    const second = `data:${chunk('lo', 'stop')}\n\ndata:${usage}\n\ndata:[DONE]\n\n`;
    run.body.write(first);
    await tick();
    run.body.write(second);
    const result = await run.relayed;
    expect(await run.text).toBe(first + second);
    expect(result.summary.content).toBe('Hello');
    expect(result.summary.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 2 });
  });

  it('re-frames the reads an event is split across, and forwards whole reads again after them', async () => {
    const run = await relay();
    const split = `data:${chunk('Hel')}\n\n`;
    run.body.write(split.slice(0, 30));
    await tick();
    run.body.write(split.slice(30) + `data:${chunk('lo')}\n\n`);
    await tick();
    run.body.write(`data:${chunk('!', 'stop')}\n\ndata:[DONE]\n\n`);
    const result = await run.relayed;
    expect(await run.text).toBe(`data: ${chunk('Hel')}\n\ndata: ${chunk('lo')}\n\ndata:${chunk('!', 'stop')}\n\ndata:[DONE]\n\n`);
    expect(result.summary.content).toBe('Hello!');
  });

  it('re-frames a first read that starts with a byte-order mark', async () => {
    const run = await relay();
    run.body.write(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`data:${chunk('Hi', 'stop')}\n\ndata:[DONE]\n\n`)]));
    await run.relayed;
    expect(await run.text).toBe(`data: ${chunk('Hi', 'stop')}\n\ndata: [DONE]\n\n`);
  });

  it('never forwards the bytes of a held chunk, nor of an event the mapper changed or named', async () => {
    const upper: Mapper = { map: (_e, data) => [data.includes('"shout"') ? data.toUpperCase() : data], end: () => [] };
    const run = await relay({ mapper: upper, hold: (data) => data === usage });
    run.body.write(`data:${chunk('a')}\n\ndata:${usage}\n\n`);
    await tick();
    run.body.write(`data:{"shout":1}\n\n`);
    await tick();
    run.body.write(`event: note\ndata:${chunk('b', 'stop')}\n\ndata:[DONE]\n\n`);
    const result = await run.relayed;
    expect(await run.text).toBe(`data: ${chunk('a')}\n\ndata: {"SHOUT":1}\n\ndata: ${chunk('b', 'stop')}\n\ndata: [DONE]\n\n`);
    expect(result.summary.usage).toMatchObject({ prompt_tokens: 3 });
  });
});
