/**
 * Calls of one batched Lua script (see `each()` in redis-scripts.ts) made while the event loop handles one
 * round of I/O go to Redis together, as one EVALSHA per hash slot, when the loop reaches its check phase
 * (setImmediate). Under load every admit and settle of that round shares one command instead of paying
 * the client's per-command cost each; alone, a call waits for nothing but the end of its own callback.
 * Each call stays atomic on its own (a script runs whole), and a failed batch fails each of its calls.
 */
export type ScriptArg = string | number;

/** Bounds one script run (Redis serves nothing else meanwhile): ~256 calls take a few milliseconds. */
const MAX_CALLS = 256;

interface Call {
  keys: string[];
  args: ScriptArg[];
  resolve: (reply: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * `send(keys, args)` runs the script once for a batch; `slotOf(key)` names a call's hash slot (its first
 * key's), so that on Redis Cluster one batch never spans two slots.
 */
export function createScriptBatcher(
  send: (keys: string[], args: ScriptArg[]) => Promise<unknown>,
  slotOf: (key: string) => string,
): (keys: string[], args: ScriptArg[]) => Promise<unknown> {
  let pending = new Map<string, Call[]>();
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batches = pending;
    pending = new Map();
    for (const calls of batches.values()) {
      for (let i = 0; i < calls.length; i += MAX_CALLS) void run(calls.slice(i, i + MAX_CALLS));
    }
  };

  async function run(calls: Call[]): Promise<void> {
    const keys: string[] = [];
    const args: ScriptArg[] = [calls.length];
    for (const call of calls) {
      for (const key of call.keys) keys.push(key);
      args.push(call.keys.length, call.args.length);
      for (const arg of call.args) args.push(arg);
    }
    try {
      const replies = await send(keys, args);
      if (!Array.isArray(replies) || replies.length !== calls.length) {
        throw new Error(`unexpected redis reply for a batch of ${calls.length}: ${JSON.stringify(replies)}`);
      }
      for (let i = 0; i < calls.length; i++) calls[i]!.resolve(replies[i]);
    } catch (err) {
      for (const call of calls) call.reject(err);
    }
  }

  return (keys, args) =>
    new Promise((resolve, reject) => {
      const slot = slotOf(keys[0] ?? '');
      const calls = pending.get(slot);
      const call = { keys, args, resolve, reject };
      if (calls) calls.push(call);
      else pending.set(slot, [call]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
