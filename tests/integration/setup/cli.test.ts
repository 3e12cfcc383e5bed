import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from '../../helpers/test-database.js';
import { lockDataDir } from '../../../src/db/data-dir-lock.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixture = path.join(root, 'tests/integration/setup/fixtures/acme.yaml');

let dir: string;
let fresh: FreshDatabase | undefined;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lyss-cli-'));
  // On PostgreSQL the CLI gets a database of its own; otherwise an embedded data folder.
  if (process.env.DATABASE_URL) fresh = await freshDatabase();
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, LOG_LEVEL: 'error' };
  env = fresh?.url
    ? { ...base, DATABASE_URL: fresh.url, LYSS_SECRET_KEY: randomBytes(32).toString('base64') }
    : { ...base, LYSS_DATA_DIR: path.join(dir, 'data') };
});
afterAll(async () => {
  await fresh?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

function lyss(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: root, env }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('lyss CLI', () => {
  it('prints help, and refuses bad usage before opening anything', async () => {
    const help = await lyss('help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('create-token --tenant <slug> --user <email> --name <name>');
    const missing = await lyss('create-user', '--tenant', 'acme');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('create-user: missing --email, --password, --role');
    expect((await lyss('frobnicate')).stderr).toContain('unknown command "frobnicate"');
  });

  it('applies a file idempotently and creates a token printed once', async () => {
    const first = await lyss('apply', fixture);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('tenants: 1 created, 0 updated, 0 unchanged');
    const again = await lyss('apply', fixture);
    expect(again.stdout).toContain('tokens: 0 created, 0 updated, 1 unchanged');

    const token = await lyss('create-token', '--tenant', 'acme', '--user', 'dev@acme.test', '--name', 'laptop');
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^lyss-[A-Za-z0-9_-]{40}\n$/);
    expect(token.stderr).toContain('shown only this once');
  }, 120_000); // three processes, each opening the embedded database (the first one creating it)

  it.skipIf(!!process.env.DATABASE_URL)('refuses to open the embedded database while another process (the gateway) holds it', async () => {
    const release = lockDataDir(env.LYSS_DATA_DIR!);
    try {
      const refused = await lyss('create-tenant', '--slug', 'busy', '--name', 'Busy');
      expect(refused.code).toBe(1);
      const lock = path.join(env.LYSS_DATA_DIR!, 'lyss.pid');
      expect(refused.stderr).toBe(
        `lyss: the embedded database in ${env.LYSS_DATA_DIR} is in use by process ${process.pid} on ${hostname()}, most likely a gateway: stop it first (while a gateway runs, make changes through its admin API); if nothing runs on it, delete ${lock}\n`,
      );
    } finally {
      release();
    }
    expect((await lyss('create-tenant', '--slug', 'busy', '--name', 'Busy')).code).toBe(0);
  });

  it('exits 1 naming the problem for a bad file', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'tenants:\n  - slug: acme\n    name: Acme\n    channels:\n      - { name: x, type: nope, key: k, models: [m] }\n');
    const result = await lyss('apply', bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('tenants[0] (acme).channels[0] (x).type: unknown provider type "nope"');
  });
});
