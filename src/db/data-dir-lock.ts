/**
 * The embedded database's folder belongs to one process at a time: PGlite is a PostgreSQL inside the process,
 * and a second process writing the same files (the CLI while the gateway runs, a second gateway) corrupts them.
 * As PostgreSQL's postmaster.pid does, a file in the folder names the holder; one left by a process that is gone
 * (a crash) is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { StartupError } from '../startup-error.js';

const LOCK_FILE = 'lyss.pid';

/** Folders this process holds: a second open here would corrupt them as surely as one from elsewhere. */
const held = new Set<string>();

export class DataDirInUseError extends StartupError {
  constructor(dataDir: string, pid: number) {
    super(
      `the embedded database in ${dataDir} is in use by another process (pid ${pid}), most likely the gateway: ` +
        'stop it first, or make the change through the admin API while it runs',
    );
  }
}

/** Takes the folder for this process; returns the release. Throws DataDirInUseError if a live process holds it. */
export function lockDataDir(dataDir: string): () => void {
  const dir = path.resolve(dataDir);
  const file = path.join(dir, LOCK_FILE);
  if (held.has(dir)) throw new DataDirInUseError(dataDir, process.pid);
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = pidIn(file);
      // Our own pid in the file is a previous life's (a container restarted with the same pid), as Postgres reads it.
      if (holder !== null && holder !== process.pid && isAlive(holder)) throw new DataDirInUseError(dataDir, holder);
      removeStale(file);
    }
  }
  held.add(dir);
  return () => {
    if (!held.delete(dir)) return;
    if (pidIn(file) === process.pid) removeStale(file);
  };
}

function pidIn(file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeStale(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
