import { describe, expect, it } from 'vitest';
import { withTimeout } from '../../src/with-timeout.js';

describe('withTimeout', () => {
  it('settles as the promise does when it is in time', async () => {
    await expect(withTimeout(Promise.resolve(7), 50, 'late')).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('refused')), 50, 'late')).rejects.toThrow('refused');
  });

  it('rejects with the message once the time is up, and ignores the late answer', async () => {
    const late = new Promise((resolve) => setTimeout(() => resolve('too late'), 200));
    const started = Date.now();
    await expect(withTimeout(late, 30, 'store call timed out')).rejects.toThrow('store call timed out');
    expect(Date.now() - started).toBeLessThan(150);
  });
});
