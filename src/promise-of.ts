/**
 * What `run` returns, or its synchronous throw as a rejection: a caller that chains on the promise handles
 * both the same way (Promise.try, which Node 20 lacks).
 */
export function promiseOf<T>(run: () => Promise<T>): Promise<T> {
  try {
    return run();
  } catch (err) {
    return Promise.reject(err);
  }
}
