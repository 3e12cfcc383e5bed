/**
 * Child processes of the bench (mock, bare proxy, gateways), each in its own process so CPU and memory are
 * accounted per process from /proc, plus the small waits the orchestration needs. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat times are in these ticks.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
}

/** Spawns `node ...args`, its stdout and stderr appended to `logFile`; `onLine` sees each stdout line. */
export function spawnNode(name: string, args: string[], opts: { env: NodeJS.ProcessEnv; logFile: string; onLine?: (line: string) => void }): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  proc.stderr!.pipe(log, { end: false });
  const lines = createInterface({ input: proc.stdout! });
  lines.on('line', (line) => {
    log.write(line + '\n');
    opts.onLine?.(line);
  });
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      // Let the last lines reach the log before closing it.
      setTimeout(() => log.end(), 50);
      resolve(code ?? signal ?? -1);
    });
  });
  if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
  return { name, proc, pid: proc.pid, logFile: opts.logFile, exited };
}

/** Spawns a bench helper (a bundled script) that prints one `{"ready":true,...}` JSON line when it listens. */
export async function spawnHelper<T>(name: string, script: string, opts: { env: NodeJS.ProcessEnv; logFile: string; timeoutMs?: number }): Promise<{ child: Child; ready: T }> {
  let resolveReady!: (v: T) => void;
  const ready = new Promise<T>((r) => (resolveReady = r));
  const child = spawnNode(name, [script], {
    env: opts.env,
    logFile: opts.logFile,
    onLine: (line) => {
      if (!line.startsWith('{"ready"')) return;
      resolveReady(JSON.parse(line) as T);
    },
  });
  const result = await Promise.race([
    ready,
    child.exited.then((code) => {
      throw new Error(`${name} exited (${code}) before it was ready; see ${opts.logFile}`);
    }),
    sleep(opts.timeoutMs ?? 20_000).then(() => {
      throw new Error(`${name} not ready within ${opts.timeoutMs ?? 20_000} ms; see ${opts.logFile}`);
    }),
  ]);
  return { child, ready: result };
}

/** Sends SIGTERM and waits for the exit, bounded; SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 20_000): Promise<number | string> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return child.exited;
  child.proc.kill('SIGTERM');
  const code = await Promise.race([child.exited, sleep(graceMs).then(() => 'timeout' as const)]);
  if (code === 'timeout') {
    child.proc.kill('SIGKILL');
    return child.exited;
  }
  return code;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces), from `state` on; null once gone. */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds a process has used so far, in user space and in the kernel; null once it is gone. */
export function cpuTimes(pid: number): { user: number; system: number } | null {
  const fields = statFields(pid);
  // Fields after the name start at 3 (state); utime and stime are fields 14 and 15.
  return fields ? { user: Number(fields[11]) / CLK_TCK, system: Number(fields[12]) / CLK_TCK } : null;
}

/** CPU seconds (user + system) a process has used so far; null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  const t = cpuTimes(pid);
  return t ? t.user + t.system : null;
}

/** Resident set size in bytes, from /proc/<pid>/status VmRSS; null once it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Direct children from /proc/<pid>/task/<tid>/children; null when the kernel lacks it (CONFIG_PROC_CHILDREN). */
function childrenFile(pid: number): number[] | null {
  try {
    const out: number[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(' ').map(Number));
    }
    return out;
  } catch {
    return null;
  }
}

/** Every process's children, from its parent pid (field 4 of /proc/<pid>/stat): one scan of /proc. */
function childrenByParent(): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const ppid = /^\d+$/.test(entry) ? Number(statFields(entry)?.[1]) : NaN;
    if (!Number.isFinite(ppid)) continue;
    const list = out.get(ppid) ?? [];
    list.push(Number(entry));
    out.set(ppid, list);
  }
  return out;
}

/** Direct children of `pid` (a cluster primary's workers). */
export function childPids(pid: number): number[] {
  return childrenFile(pid) ?? childrenByParent().get(pid) ?? [];
}

/** `pid` and all its descendants; at most one scan of /proc when the kernel has no children files. */
export function treePids(pid: number): number[] {
  let scanned: Map<number, number[]> | null = null;
  const children = (p: number) => childrenFile(p) ?? (scanned ??= childrenByParent()).get(p) ?? [];
  const out: number[] = [];
  for (const queue = [pid]; queue.length > 0; ) {
    const next = queue.shift()!;
    out.push(next);
    queue.push(...children(next));
  }
  return out;
}

/** Pids of processes whose command name is `comm` (postgres backends come and go, so look each time). */
export function pidsByComm(comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) out.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

/** CPU seconds the whole machine has spent busy (all cores; idle and iowait excluded), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = first.trim().split(/\s+/).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLK_TCK;
  } catch {
    return NaN;
  }
}

export interface Window {
  seconds: number;
  /** CPU seconds used in the window, per named process (or process group). */
  cpu: Record<string, number>;
  /** Of those, the seconds spent in the kernel (system calls, the network stack), per tracked process. */
  system: Record<string, number>;
  /** Peak RSS in the window, per named process, in bytes. */
  peakRss: Record<string, number>;
}

/** How a named process is accounted: alone, or as a tree (`pid` and all its descendants, summed). */
interface Tracked {
  pid: number;
  tree: boolean;
}

/**
 * Samples RSS of the named processes every `intervalMs`, and measures CPU between `start()` and `stop()`.
 * Groups (postgres, redis-server) are found by command name and summed, CPU only. A process tracked with
 * `{ tree: true }` (a cluster primary) counts with its descendants (its workers): CPU summed over the tree at
 * start() and at stop(), so workers must live the whole window; RSS summed over the tree at each sample.
 */
export class Meter {
  private readonly pids = new Map<string, Tracked>();
  /** Each tree's pids at the last look: re-read at start() and stop(), and when a member is gone. */
  private readonly trees = new Map<string, number[]>();
  private timer: NodeJS.Timeout | null = null;
  private peaks: Record<string, number> = {};
  private cpuStart: Record<string, number> = {};
  private systemStart: Record<string, number> = {};
  private startedAt = 0;
  private selfStart: NodeJS.CpuUsage = process.cpuUsage();
  private machineStart = 0;

  constructor(private readonly groups: string[] = ['postgres', 'redis-server'], private readonly intervalMs = 100) {}

  track(name: string, pid: number, opts: { tree?: boolean } = {}): void {
    this.pids.set(name, { pid, tree: opts.tree ?? false });
    this.trees.delete(name);
  }

  untrack(name: string): void {
    this.pids.delete(name);
    this.trees.delete(name);
  }

  private groupCpu(comm: string): number {
    return pidsByComm(comm).reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
  }

  /** The pids a name stands for; a tree's are cached between samples, since scanning /proc costs the load generator CPU. */
  private members(name: string, t: Tracked, fresh: boolean): number[] {
    if (!t.tree) return [t.pid];
    let pids = this.trees.get(name);
    if (fresh || !pids) this.trees.set(name, (pids = treePids(t.pid)));
    return pids;
  }

  private cpuOf(name: string, t: Tracked): { total: number; system: number } {
    let total = 0;
    let system = 0;
    for (const pid of this.members(name, t, true)) {
      const times = cpuTimes(pid);
      if (!times) continue;
      total += times.user + times.system;
      system += times.system;
    }
    return { total, system };
  }

  /** Summed RSS; null when a member is gone (then a tree is looked up again once). */
  private rssOf(name: string, t: Tracked): number | null {
    const sum = (pids: number[]) => {
      let total = 0;
      for (const pid of pids) {
        const rss = rssBytes(pid);
        if (rss === null) return null;
        total += rss;
      }
      return total;
    };
    return sum(this.members(name, t, false)) ?? (t.tree ? sum(this.members(name, t, true)) : null);
  }

  private sample(): void {
    for (const [name, t] of this.pids) {
      const rss = this.rssOf(name, t);
      if (rss !== null && rss > (this.peaks[name] ?? 0)) this.peaks[name] = rss;
    }
  }

  start(): void {
    this.peaks = {};
    this.cpuStart = {};
    this.systemStart = {};
    for (const [name, t] of this.pids) ({ total: this.cpuStart[name], system: this.systemStart[name] } = this.cpuOf(name, t));
    for (const g of this.groups) this.cpuStart[g] = this.groupCpu(g);
    this.selfStart = process.cpuUsage();
    this.machineStart = machineBusySeconds();
    this.startedAt = performance.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): Window {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    const cpu: Record<string, number> = {};
    const system: Record<string, number> = {};
    for (const [name, t] of this.pids) {
      const now = this.cpuOf(name, t);
      cpu[name] = now.total - (this.cpuStart[name] ?? 0);
      system[name] = now.system - (this.systemStart[name] ?? 0);
    }
    for (const g of this.groups) cpu[g] = this.groupCpu(g) - (this.cpuStart[g] ?? 0);
    const self = process.cpuUsage(this.selfStart);
    cpu['load generator'] = (self.user + self.system) / 1e6;
    // What the rest of the machine used meanwhile: other people's work on a shared machine skews every figure.
    const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
    cpu['other processes'] = Math.max(0, machineBusySeconds() - this.machineStart - ours);
    return { seconds: (performance.now() - this.startedAt) / 1000, cpu, system, peakRss: { ...this.peaks } };
  }
}
