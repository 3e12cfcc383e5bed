/**
 * lowerBackgroundThreads (src/thread-priority.ts), in a child process so the test runner's own threads keep
 * their priority: every thread but the event loop's gets the nice value, and 0 changes nothing.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULE = path.resolve(import.meta.dirname, '../../src/thread-priority.ts');

/** The nice value of each thread of a child that called lowerBackgroundThreads(nice), the event loop's first. */
function niceValuesAfter(nice: number, startAt = 0): { lowered: number; before: number; main: number; others: number[] } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { setPriority } from 'node:os';
    // Every thread of the child, then itself, at startAt (threads already running keep their own).
    if (${startAt} > 0) for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), ${startAt});
    import { lowerBackgroundThreads } from ${JSON.stringify(MODULE)};
    // Field 19 of /proc/<tid>/stat, counted after the command name's closing parenthesis.
    const niceOf = (tid) => { const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8'); return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); };
    const before = niceOf(process.pid);
    const lowered = lowerBackgroundThreads(${nice});
    const tids = readdirSync('/proc/self/task').map(Number);
    console.log(JSON.stringify({ lowered, before, main: niceOf(process.pid), others: tids.filter((t) => t !== process.pid).map(niceOf) }));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim()) as { lowered: number; before: number; main: number; others: number[] };
}

/** A runner already at nice 10 or more would see nothing lowered. */
const runnerNice = process.platform === 'linux' ? (await import('node:os')).getPriority() : 0;

describe.runIf(process.platform === 'linux' && runnerNice < 10)('lowerBackgroundThreads', () => {
  it("gives every thread but the event loop's the nice value", () => {
    const { lowered, before, main, others } = niceValuesAfter(10);
    expect(main).toBe(before);
    expect(lowered).toBe(others.length);
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((n) => n === 10)).toBe(true);
  });

  it('never raises a thread already at a lower priority', () => {
    // The child starts at nice 15 (lowering one's own priority needs no privilege): 10 would be a raise.
    const { lowered, others } = niceValuesAfter(10, 15);
    expect(lowered).toBe(0);
    expect(others.every((n) => n === 15)).toBe(true);
  });

  it('leaves every thread as it is with 0', () => {
    const { lowered, before, main, others } = niceValuesAfter(0);
    expect(lowered).toBe(0);
    expect([main, ...others].every((n) => n === before)).toBe(true);
  });
});
