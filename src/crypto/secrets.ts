/**
 * Secrets at rest: AES-256-GCM under a versioned master key (LYSS_SECRET_KEY). The ciphertext names the
 * key version it was sealed with, so the master key can be rotated: new writes use the first (current)
 * key, old rows still open with the older keys listed after it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface MasterKey {
  version: number;
  key: Buffer;
}

export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
  readonly currentVersion: number;
}

const PREFIX = 'v';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Sealed form: `v<version>:<base64url(iv | tag | ciphertext)>`. */
export function createSecretBox(keys: MasterKey[]): SecretBox {
  const current = keys[0];
  if (!current) throw new Error('createSecretBox needs at least one key');
  const byVersion = new Map(keys.map((k) => [k.version, k.key]));
  return {
    currentVersion: current.version,
    seal(plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const payload = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
      return `${PREFIX}${current.version}:${payload}`;
    },
    open(sealed) {
      const m = /^v(\d+):([A-Za-z0-9_-]+)$/.exec(sealed);
      if (!m) throw new Error('not a sealed secret');
      const key = byVersion.get(Number(m[1]));
      if (!key) throw new Error(`secret sealed with unknown key version ${m[1]}`);
      const raw = Buffer.from(m[2]!, 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed secret too short');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    },
  };
}
