import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../../src/auth/password.js';

describe('password hashing', () => {
  it('verifies the password it hashed and rejects others', async () => {
    const stored = await hashPassword('a long passphrase');
    expect(await verifyPassword('a long passphrase', stored)).toBe(true);
    expect(await verifyPassword('a long passphrasE', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('stores a self-describing scrypt hash that fits varchar(255), salted afresh each time', async () => {
    const a = await hashPassword('same password here');
    const b = await hashPassword('same password here');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{88}$/);
    expect(a.length).toBeLessThanOrEqual(255);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same password here', b)).toBe(true);
  });

  it('verifies hashes made with other stored parameters', async () => {
    const stored = await hashPassword('parameters travel');
    // Re-derive with N=1024 by hand to check the parameters are read from the stored value, not assumed.
    const { scryptSync } = await import('node:crypto');
    const salt = Buffer.from('0123456789abcdef');
    const key = scryptSync('parameters travel', salt, 32, { N: 1024, r: 4, p: 2 });
    const other = `scrypt$1024$4$2$${salt.toString('base64')}$${key.toString('base64')}`;
    expect(await verifyPassword('parameters travel', other)).toBe(true);
    expect(await verifyPassword('parameters travel', stored)).toBe(true);
  });

  it('rejects stored values it cannot read instead of throwing', async () => {
    for (const bad of ['', 'plain', 'bcrypt$x', 'scrypt$16384$8$1$$', 'scrypt$1000$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==', 'scrypt$99999999$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==']) {
      expect(await verifyPassword('whatever password', bad)).toBe(false);
    }
  });
});
