import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, lockDataDir } from '../../src/db/data-dir-lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lyss-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lockDataDir', () => {
  it('holds the folder once, with this pid in lyss.pid, until released', async () => {
    const release = lockDataDir(dir);
    expect(await readFile(path.join(dir, 'lyss.pid'), 'utf8')).toBe(`${process.pid}\n`);
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    release();
    expect(existsSync(path.join(dir, 'lyss.pid'))).toBe(false);
    lockDataDir(dir)();
  });

  it('refuses a folder a live process holds, naming it', async () => {
    // pid 1 is alive on every Linux machine (init), and is not this test's.
    await writeFile(path.join(dir, 'lyss.pid'), '1\n');
    expect(() => lockDataDir(dir)).toThrow(/in use by another process \(pid 1\)/);
    expect(await readFile(path.join(dir, 'lyss.pid'), 'utf8')).toBe('1\n');
  });

  it("takes over what a process that is gone left, or this pid's previous life, or garbage", async () => {
    for (const left of ['2147483646\n', `${process.pid}\n`, 'not a pid']) {
      await writeFile(path.join(dir, 'lyss.pid'), left);
      const release = lockDataDir(dir);
      expect(await readFile(path.join(dir, 'lyss.pid'), 'utf8')).toBe(`${process.pid}\n`);
      release();
    }
  });
});
