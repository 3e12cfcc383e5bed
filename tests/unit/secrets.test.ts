import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecretBox } from '../../src/crypto/secrets.js';
import { KEY_FILE, resolveMasterKeys } from '../../src/crypto/master-key.js';
import { generateToken, sha256Hex, tokenDisplayPrefix } from '../../src/crypto/digest.js';

const key = (b: number) => Buffer.alloc(32, b);

describe('secret box (AES-256-GCM)', () => {
  it('round-trips and never produces the same ciphertext twice', () => {
    const box = createSecretBox([{ version: 1, key: key(1) }]);
    const a = box.seal('sk-upstream');
    expect(a).not.toContain('sk-upstream');
    expect(box.seal('sk-upstream')).not.toBe(a);
    expect(box.open(a)).toBe('sk-upstream');
  });

  it('detects tampering', () => {
    const box = createSecretBox([{ version: 1, key: key(1) }]);
    const sealed = box.seal('secret');
    const [head, body] = sealed.split(':');
    const bytes = Buffer.from(body!, 'base64url');
    bytes[bytes.length - 1]! ^= 1;
    expect(() => box.open(`${head}:${bytes.toString('base64url')}`)).toThrow();
  });

  it('rotates: new writes use the current key, old ciphertexts still open, unknown versions fail', () => {
    const old = createSecretBox([{ version: 1, key: key(1) }]);
    const sealedOld = old.seal('old');
    const rotated = createSecretBox([{ version: 2, key: key(2) }, { version: 1, key: key(1) }]);
    expect(rotated.open(sealedOld)).toBe('old');
    expect(rotated.seal('new').startsWith('v2:')).toBe(true);
    expect(() => old.open(rotated.seal('new'))).toThrow(/version 2/);
  });
});

describe('master key', () => {
  it('the embedded default generates a 0600 key file once and reuses it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lyss-key-'));
    const first = resolveMasterKeys({ embedded: true, dataDir: dir });
    const mode = statSync(path.join(dir, KEY_FILE)).mode & 0o777;
    expect(mode).toBe(0o600);
    const content = readFileSync(path.join(dir, KEY_FILE), 'utf8');
    const second = resolveMasterKeys({ embedded: true, dataDir: dir });
    expect(second![0]!.key.equals(first![0]!.key)).toBe(true);
    expect(readFileSync(path.join(dir, KEY_FILE), 'utf8')).toBe(content);
  });

  it('PostgreSQL without LYSS_SECRET_KEY has no key (instances must share one)', () => {
    expect(resolveMasterKeys({ embedded: false, dataDir: '/nonexistent' })).toBeNull();
  });

  it('LYSS_SECRET_KEY wins', () => {
    const keys = resolveMasterKeys({ secretKey: `3:${key(3).toString('base64')}`, embedded: true, dataDir: '/nonexistent' });
    expect(keys?.[0]?.version).toBe(3);
  });
});

describe('token digests', () => {
  it('stores SHA-256 hex of the token and a short non-secret prefix', () => {
    const token = generateToken();
    expect(token).toMatch(/^lyss-[A-Za-z0-9_-]{40}$/);
    expect(sha256Hex(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(tokenDisplayPrefix(token)).toBe(token.slice(0, 12));
  });
});
