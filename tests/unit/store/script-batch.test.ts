import { describe, expect, it } from 'vitest';
import { createScriptBatcher, type ScriptArg } from '../../../src/store/script-batch.js';

/** A fake script that answers each call with its own first argument, recording every run. */
function fakeRedis(fail = false) {
  const runs: { keys: string[]; args: ScriptArg[] }[] = [];
  const send = async (keys: string[], args: ScriptArg[]) => {
    runs.push({ keys, args });
    if (fail) throw new Error('connection lost');
    const replies: unknown[] = [];
    let at = 1;
    for (let n = 0; n < Number(args[0]); n++) {
      const nArgs = Number(args[at + 1]);
      replies.push(args[at + 2]);
      at += 2 + nArgs;
    }
    return replies;
  };
  return { runs, send };
}

const tagOf = (key: string) => key.slice(key.indexOf('{') + 1, key.indexOf('}'));

describe('script batcher', () => {
  it('sends the calls of one I/O round as one run per slot, each answered with its own reply', async () => {
    const redis = fakeRedis();
    const call = createScriptBatcher(redis.send, tagOf);
    const replies = await Promise.all([
      call(['{a}:1', '{a}:2'], ['first', 7]),
      call(['{b}:1'], ['second']),
      call(['{a}:3'], ['third', 'x', 'y']),
    ]);
    expect(replies).toEqual(['first', 'second', 'third']);
    expect(redis.runs).toHaveLength(2);
    expect(redis.runs[0]).toEqual({ keys: ['{a}:1', '{a}:2', '{a}:3'], args: [2, 2, 2, 'first', 7, 1, 3, 'third', 'x', 'y'] });
    expect(redis.runs[1]).toEqual({ keys: ['{b}:1'], args: [1, 1, 1, 'second'] });
  });

  it('starts a new batch after the previous one went out', async () => {
    const redis = fakeRedis();
    const call = createScriptBatcher(redis.send, () => '');
    expect(await call(['k'], ['one'])).toBe('one');
    expect(await call(['k'], ['two'])).toBe('two');
    expect(redis.runs).toHaveLength(2);
  });

  it('bounds one run to 256 calls', async () => {
    const redis = fakeRedis();
    const call = createScriptBatcher(redis.send, () => '');
    const replies = await Promise.all(Array.from({ length: 600 }, (_, i) => call(['k'], [`r${i}`])));
    expect(replies[599]).toBe('r599');
    expect(redis.runs.map((r) => r.args[0])).toEqual([256, 256, 88]);
  });

  it('fails every call of a batch that failed', async () => {
    const redis = fakeRedis(true);
    const call = createScriptBatcher(redis.send, () => '');
    const results = await Promise.allSettled([call(['k'], ['a']), call(['k'], ['b'])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(redis.runs).toHaveLength(1);
  });

  it('fails every call when the reply does not have one entry per call', async () => {
    const call = createScriptBatcher(async () => ['only one'], () => '');
    const results = await Promise.allSettled([call(['k'], ['a']), call(['k'], ['b'])]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });
});
