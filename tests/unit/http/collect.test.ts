import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { collect } from '../../../src/http/body.js';

const tooLarge = () => new Error('too large');

describe('collect', () => {
  it('returns the whole body', async () => {
    const s = new PassThrough();
    const p = collect(s, 100, tooLarge);
    s.write('hello ');
    s.end('world');
    expect((await p).toString()).toBe('hello world');
  });

  it('throws past the limit, and an error of the stream destroyed afterwards is not uncaught', async () => {
    const s = new PassThrough();
    const p = collect(s, 5, tooLarge);
    s.write('0123456789');
    await expect(p).rejects.toThrow('too large');
    // The caller cuts the rest, as readBody does with an upstream answer: the stream errors with no reader left.
    s.destroy(new Error('aborted'));
    await new Promise((r) => setImmediate(r));
    expect(s.destroyed).toBe(true);
  });

  it('rejects a stream that closes before its end, and one already destroyed', async () => {
    const s = new PassThrough();
    const p = collect(s, 100, tooLarge);
    s.write('partial');
    s.destroy();
    await expect(p).rejects.toThrow('closed before its end');
    await expect(collect(s, 100, tooLarge)).rejects.toThrow();
  });

  it('rejects with the stream error', async () => {
    const s = new PassThrough();
    const p = collect(s, 100, tooLarge);
    s.destroy(new Error('reset'));
    await expect(p).rejects.toThrow('reset');
  });
});
