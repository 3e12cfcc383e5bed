import { describe, expect, it } from 'vitest';
import { newRequestId, requestIdOf } from '../../../src/http/request-id.js';

describe('request ids', () => {
  it('are req_ and 32 hex digits, one process prefix, and a counter that counts', () => {
    const ids = Array.from({ length: 300 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    expect(new Set(ids.map((id) => id.slice(0, 20))).size).toBe(1);
    const counts = ids.map((id) => Number.parseInt(id.slice(20), 16));
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBe(counts[i - 1]! + 1);
  });

  it("keep a client's sane x-request-id and replace anything else", () => {
    expect(requestIdOf({ 'x-request-id': 'trace-1.2:3' })).toBe('trace-1.2:3');
    expect(requestIdOf({ 'x-request-id': 'has space' })).toMatch(/^req_[0-9a-f]{32}$/);
    expect(requestIdOf({ 'x-request-id': 'x'.repeat(129) })).toMatch(/^req_[0-9a-f]{32}$/);
    expect(requestIdOf({})).toMatch(/^req_[0-9a-f]{32}$/);
  });
});
