/**
 * Shutdown drain (src/http/server.ts): it waits for in-flight handlers, not only their responses. A relay
 * handler settles the quota and queues the usage record after the last byte went out; a drain that ended with
 * the response would let shutdown flush the queue before that record arrived, and lose it.
 */
import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { listen } from '../../../src/http/server.js';

describe('drain', () => {
  it('resolves only after a handler that keeps working past its response has returned', async () => {
    let recorded = false;
    const app = new Hono<{ Bindings: HttpBindings }>();
    app.get('/work', async (c) => {
      c.env.outgoing.writeHead(200, { 'content-type': 'text/plain' });
      c.env.outgoing.end('done');
      await new Promise((r) => setTimeout(r, 300)); // the settle and the usage record, after the answer
      recorded = true;
      return RESPONSE_ALREADY_SENT;
    });
    const running = await listen({ app }, { port: 0, host: '127.0.0.1' });
    const res = await fetch(`http://127.0.0.1:${running.port}/work`, { headers: { connection: 'close' } });
    expect(await res.text()).toBe('done');
    await running.drain(5_000);
    expect(recorded).toBe(true);
  });

  it('stops waiting after the grace period and cuts the connections left', async () => {
    const app = new Hono<{ Bindings: HttpBindings }>();
    app.get('/slow', async (c) => {
      c.env.outgoing.writeHead(200, { 'content-type': 'text/plain' });
      c.env.outgoing.write('partial');
      await new Promise<void>((r) => c.env.outgoing.once('close', () => r()));
      return RESPONSE_ALREADY_SENT;
    });
    const running = await listen({ app }, { port: 0, host: '127.0.0.1' });
    const res = await fetch(`http://127.0.0.1:${running.port}/slow`);
    const reading = res.text().catch(() => 'cut');
    const started = Date.now();
    await running.drain(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await reading).toBe('cut');
  });
});
