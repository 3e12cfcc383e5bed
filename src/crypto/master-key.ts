/** Where the master key comes from: LYSS_SECRET_KEY, or (embedded default only) a key file generated once. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseSecretKeys } from '../config.js';
import type { MasterKey } from './secrets.js';

export const KEY_FILE = 'secret.key';

/**
 * LYSS_SECRET_KEY when set. Otherwise, on the embedded database, `<dataDir>/secret.key` (created with mode
 * 0600 on first start). On PostgreSQL without LYSS_SECRET_KEY there is no key: instances must share one, and
 * a file on one machine is not shared, so storing a channel key fails with a clear error instead.
 */
export function resolveMasterKeys(opts: { secretKey?: string; embedded: boolean; dataDir: string }): MasterKey[] | null {
  if (opts.secretKey) return parseSecretKeys(opts.secretKey);
  if (!opts.embedded || opts.dataDir.includes('://')) return opts.embedded ? [{ version: 1, key: randomBytes(32) }] : null;
  const file = path.join(opts.dataDir, KEY_FILE);
  if (!existsSync(file)) {
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return parseSecretKeys(readFileSync(file, 'utf8').trim());
}
