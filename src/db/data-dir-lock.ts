/**
 * The embedded database's folder belongs to one process at a time: PGlite is a PostgreSQL inside the process,
 * and a second process writing the same files (the CLI while the gateway runs, a second gateway) corrupts them.
 * As PostgreSQL's postmaster.pid does, a file in the folder names the holder (pid, host, boot); one left by a
 * process that is gone (a crash, a reboot) is taken over.
 */
import { readFileSync, unlinkSync, writeFileSync, linkSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { StartupError } from '../startup-error.js';

const LOCK_FILE = 'lyss.pid';

/** Folders this process holds: a second open here would corrupt them as surely as one from elsewhere. */
const held = new Set<string>();

export class DataDirInUseError extends StartupError {
  constructor(file: string, holder: string) {
    super(
      `the embedded database in ${path.dirname(file)} is in use by ${holder}, most likely a gateway: stop it first ` +
        `(while a gateway runs, make changes through its admin API); if nothing runs on it, delete ${file}`,
    );
  }
}

interface Holder {
  pid: number;
  host: string;
  boot: string;
}

/** Takes the folder for this process; returns the release. Throws DataDirInUseError if a live process holds it. */
export function lockDataDir(dataDir: string): () => void {
  const dir = path.resolve(dataDir);
  const file = path.join(dir, LOCK_FILE);
  if (held.has(dir)) throw new DataDirInUseError(file, `this process (pid ${process.pid})`);
  const me: Holder = { pid: process.pid, host: hostname(), boot: bootId() };
  // Written whole under another name, then linked in: an opener never reads a half-written file.
  const draft = `${file}.${process.pid}`;
  writeFileSync(draft, `${me.pid}\n${me.host}\n${me.boot}\n`);
  try {
    for (;;) {
      try {
        linkSync(draft, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = holderIn(file);
        if (holder && holds(holder, me)) throw new DataDirInUseError(file, `process ${holder.pid} on ${holder.host}`);
        removeIfPresent(file);
      }
    }
  } finally {
    removeIfPresent(draft);
  }
  held.add(dir);
  return () => {
    if (!held.delete(dir)) return;
    if (holderIn(file)?.pid === process.pid) removeIfPresent(file);
  };
}

/** Whether the file's holder may still run. Another host (a container) cannot be checked: it may. */
function holds(holder: Holder, me: Holder): boolean {
  if (holder.host && holder.host !== me.host) return true;
  // Since a reboot every pid is new; our own pid is a previous life's (a container restarted), as Postgres reads it.
  if ((holder.boot && holder.boot !== me.boot) || holder.pid === me.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

function holderIn(file: string): Holder | null {
  try {
    const [pid, host = '', boot = ''] = readFileSync(file, 'utf8').split('\n');
    const n = Number.parseInt(pid ?? '', 10);
    return Number.isSafeInteger(n) && n > 0 ? { pid: n, host, boot } : null;
  } catch {
    return null;
  }
}

/** Linux's id of this boot; elsewhere none, and a reboot is not told apart. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

function removeIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
