/** An admit request for the store tests: 10 units wanted and needed, a fresh id, nothing booked unless given. */
import { randomUUID } from 'node:crypto';
import type { AdmitRequest } from '../../../src/store/limit-store.js';

export function admitRequest(overrides: Partial<AdmitRequest>): AdmitRequest {
  return {
    rateLimits: [],
    quotas: [],
    reservationId: randomUUID(),
    desired: 10,
    minimum: 10,
    ttlMs: 60_000,
    ...overrides,
  };
}
