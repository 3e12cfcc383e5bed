import { describe, expect, it } from 'vitest';
import { timeOrderedId } from '../../src/time-ordered-id.js';

describe('timeOrderedId', () => {
  it('gives UUIDv7s of the current millisecond whose random bits never repeat, across pool refills', () => {
    const before = Date.now();
    const ids = Array.from({ length: 1_000 }, timeOrderedId);
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // The last 62 bits are random: 1,000 draws of them never collide unless bytes are reused.
    expect(new Set(ids.map((id) => id.slice(19))).size).toBe(ids.length);
  });
});
