import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, lockDataDir } from '../../src/db/data-dir-lock.js';

let dir: string;
let file: string;
const boot = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
})();
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lyss-lock-'));
  file = path.join(dir, 'lyss.pid');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lockDataDir', () => {
  it('holds the folder once, naming this pid, host and boot in lyss.pid, until released', async () => {
    const release = lockDataDir(dir);
    expect(await readFile(file, 'utf8')).toBe(`${process.pid}\n${hostname()}\n${boot}\n`);
    expect(await readdir(dir)).toEqual(['lyss.pid']);
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    release();
    expect(existsSync(file)).toBe(false);
    lockDataDir(dir)();
  });

  it('refuses a folder a live process of this boot holds, or one on another host, naming it and the file', async () => {
    // pid 1 is alive on every Linux machine (init), and is not this test's.
    await writeFile(file, `1\n${hostname()}\n${boot}\n`);
    expect(() => lockDataDir(dir)).toThrow(`is in use by process 1 on ${hostname()}, most likely a gateway`);
    await writeFile(file, `2147483646\nanother-container\n${boot}\n`);
    expect(() => lockDataDir(dir)).toThrow(`if nothing runs on it, delete ${file}`);
    expect(await readFile(file, 'utf8')).toBe(`2147483646\nanother-container\n${boot}\n`);
  });

  it("takes over what a process that is gone left, this pid's previous life, a previous boot's, or garbage", async () => {
    for (const left of [`2147483646\n${hostname()}\n${boot}\n`, `${process.pid}\n${hostname()}\n${boot}\n`, `1\n${hostname()}\nan-earlier-boot\n`, 'not a pid']) {
      await writeFile(file, left);
      const release = lockDataDir(dir);
      expect(await readFile(file, 'utf8')).toBe(`${process.pid}\n${hostname()}\n${boot}\n`);
      release();
    }
  });
});
