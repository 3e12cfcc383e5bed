/**
 * The README's first command, as a new user runs it: the built gateway as a real process on the embedded
 * default. It serves /healthz quickly, keeps its data across a restart, stops cleanly on SIGTERM, and refuses
 * bad configuration at boot naming the variable.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import { PGlite } from '@electric-sql/pglite';

const root = path.resolve(import.meta.dirname, '../..');
const main = path.join(root, 'dist/main.js');

beforeAll(() => {
  execFileSync('node', ['scripts/build.mjs'], { cwd: root });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Every gateway a test starts; a failed test must not leave one running. */
const running = new Set<ChildProcess>();

function start(env: Record<string, string>): Proc {
  const child = spawn('node', [main], {
    cwd: root,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  running.add(child);
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      running.delete(child);
      r(code);
    }),
  );
  return { child, output: () => out, exited };
}

async function waitHealthy(port: number, ms: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no /healthz 200 within ${ms} ms`);
}

/** Waits until /readyz says ready (the database and store up); until then it answers 503 "starting". */
async function waitReady(port: number, ms: number): Promise<void> {
  const started = Date.now();
  let last: unknown = null;
  while (Date.now() - started < ms) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    last = res ? await res.json() : null;
    if (res?.status === 200) {
      expect(last).toMatchObject({ status: 'ready' });
      return;
    }
    expect(res?.status).toBe(503);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/readyz not ready within ${ms} ms; last answer ${JSON.stringify(last)}`);
}

describe('boot on the embedded default', () => {
  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
  });

  it('serves /healthz within 10 s, keeps data across restarts, and exits 0 on SIGTERM', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lyss-boot-'));
    const port = await freePort();
    const env = { PORT: String(port), HOST: '127.0.0.1', LYSS_DATA_DIR: dataDir };

    const first = start(env);
    const ms = await waitHealthy(port, 10_000);
    expect(ms).toBeLessThan(10_000);
    // A request that arrives while the database is still starting waits for the app instead of being refused.
    const starting = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect([starting.status, await starting.json()]).toEqual([503, { status: 'starting' }]);
    const early = await fetch(`http://127.0.0.1:${port}/v1/models`);
    expect(early.status).toBe(401);
    expect(await early.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
    await waitReady(port, 60_000);
    expect(first.output()).toMatch(/INITIAL SUPER ADMIN PASSWORD/);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = start(env);
    await waitHealthy(port, 10_000);
    await waitReady(port, 60_000);
    expect(second.output()).not.toMatch(/INITIAL SUPER ADMIN PASSWORD/);
    // The data folder is the running gateway's: another process on it stops, saying why, and harms nothing.
    const intruder = start({ ...env, PORT: String(await freePort()) });
    expect(await intruder.exited).toBe(1);
    expect(intruder.output()).toContain(`lyss: failed to start: the embedded database in ${dataDir} is in use by process ${second.child.pid} on `);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(existsSync(path.join(dataDir, 'lyss.pid'))).toBe(false);

    // One default tenant and one admin, after two starts.
    const pg = await PGlite.create(dataDir);
    try {
      const tenants = await pg.query<{ slug: string }>('select slug from tenant_organizations');
      expect(tenants.rows.map((r) => r.slug)).toEqual(['default']);
      const admins = await pg.query<{ n: number }>("select count(*)::int as n from auth_users where role = 'super_admin'");
      expect(admins.rows[0]!.n).toBe(1);
    } finally {
      await pg.close();
    }
  }, 150_000);

  it.each([
    [{ PORT: 'abc' }, /PORT/],
    [{ DATABASE_URL: 'nonsense' }, /DATABASE_URL/],
    [{ PORT: '70000', REDIS_URL: 'nope' }, /PORT[\s\S]*REDIS_URL|REDIS_URL[\s\S]*PORT/],
    [{ DATABASE_URL: 'postgres://lyss:secret@127.0.0.1:1/lyss' }, /\nlyss: failed to start: cannot connect to the PostgreSQL database of DATABASE_URL \(127\.0\.0\.1:1\/lyss\): connect ECONNREFUSED 127\.0\.0\.1:1\n$/],
  ])('bad configuration %j stops the process at boot, naming the variable', async (env, pattern) => {
    const proc = start(env as Record<string, string>);
    const code = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.output()).toMatch(pattern);
  });
});
