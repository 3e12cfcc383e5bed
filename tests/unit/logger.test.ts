import { describe, expect, it } from 'vitest';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { createLogger } from '../../src/logger.js';

describe('createLogger', () => {
  it("never writes a failed query's parameters (password hashes, sealed keys), but keeps the driver's reason", () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    const cause = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    const err = new DrizzleQueryError('insert into "auth_users" ("email", "password_hash") values ($1, $2)', ['n@acme.test', 'scrypt$16384$8$1$c2FsdA$aGFzaA'], cause);
    log.error('unhandled error', { err });
    const entry = JSON.parse(lines[0]!);
    expect(lines[0]).not.toContain('scrypt$');
    expect(lines[0]).not.toContain('n@acme.test');
    expect(entry.err.message).toBe('Failed query: insert into "auth_users" ("email", "password_hash") values ($1, $2)\nparams: [redacted]');
    expect(entry.err.stack).toContain('params: [redacted]');
    expect(entry.err.stack).toMatch(/\n {4}at /);
    expect(entry.err.cause).toEqual({ message: 'invalid byte sequence for encoding "UTF8": 0x00', code: '22021' });
  });

  it('writes other errors as they are', () => {
    const lines: string[] = [];
    createLogger('info', (l) => lines.push(l)).warn('x', { err: new Error('plain') });
    expect(JSON.parse(lines[0]!).err.message).toBe('plain');
  });
});
