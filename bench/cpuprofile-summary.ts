/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and aggregates time by function and by package: self time
 * (the function itself was on top of the stack) and total time (it was anywhere on the stack). Frames in the
 * esbuild bundle (dist/*.js) are mapped back to src/ through the bundle's source map.
 * `node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [top] [from-seconds] [to-seconds]`
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** A V8 .cpuprofile, as `node --cpu-prof` writes it. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  name: string;
  where: string;
  pkg: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  wallMs: number;
  /** The part of the profile summarised, in ms from its start. */
  window: { fromMs: number; toMs: number };
  sampledMs: number;
  idleMs: number;
  busyMs: number;
  functions: FunctionTime[];
  /**
   * Self time by package, and the same with the time spent in node core and native code charged to the
   * package that called it (a socket write inside postgres.js counts for postgres).
   */
  packages: { pkg: string; selfMs: number; attributedMs: number }[];
  /**
   * The longest uninterrupted stretch of samples with a package anywhere on the stack: how long it held the
   * event loop at once (what every request waiting behind it pays in latency).
   */
  longestStretch: { pkg: string; ms: number }[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Which package a frame belongs to: a node_modules package, node's own code, the gateway, or the bench. */
function packageOf(url: string, mapped: string | null, name: string): string {
  if (SPECIAL.has(name) && !url) return name;
  if (url.startsWith('node:')) return 'node (core)';
  // The gateway's only WebAssembly is undici's HTTP/1.1 parser (llhttp); node:http parses in C++.
  if (url.startsWith('wasm://')) return 'undici (llhttp wasm)';
  const file = mapped ?? url;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (nm) return nm[1]!;
  const src = /(?:^|\/)src\/([^/]+)/.exec(file);
  if (src) return `lyss src/${src[1]!.replace(/(\.ts)?(:\d+)?$/, '')}`;
  if (!file) return name.startsWith('(') ? name : '(native / builtin)';
  return file.replace(/^file:\/\//, '');
}

/**
 * Names a profile frame: its function, its place (the bundle's frames mapped back to src/ through its source
 * map; dependencies keep their node_modules location) and its package.
 */
export function frameLocator(root = process.cwd()): (frame: CallFrame) => { name: string; where: string; pkg: string } {
  const maps = new Map<string, SourceMap | null>();
  const distPrefix = pathToFileURL(path.join(root, 'dist')).href + '/';
  const mapFor = (url: string): SourceMap | null => {
    if (!url.startsWith(distPrefix) || !url.endsWith('.js')) return null;
    if (maps.has(url)) return maps.get(url)!;
    let map: SourceMap | null = null;
    const file = fileURLToPath(url) + '.map';
    if (existsSync(file)) map = new SourceMap(JSON.parse(readFileSync(file, 'utf8')));
    maps.set(url, map);
    return map;
  };
  return ({ functionName, url, lineNumber, columnNumber }) => {
    const name = functionName || '(anonymous)';
    let where = url ? `${url.replace(pathToFileURL(root).href + '/', '')}:${lineNumber + 1}` : '';
    let mappedFile: string | null = null;
    const map = mapFor(url);
    if (map && lineNumber >= 0) {
      const entry = map.findEntry(lineNumber, columnNumber) as { originalSource?: string; originalLine?: number };
      if (entry.originalSource) {
        mappedFile = entry.originalSource;
        const rel = path.relative(root, entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(fileURLToPath(url)), entry.originalSource));
        where = `${rel}:${(entry.originalLine ?? 0) + 1}`;
      }
    }
    return { name, where, pkg: packageOf(url, mappedFile ? where : null, name) };
  };
}

/** `window` limits the summary to samples between fromMs and toMs after the profile started (e.g. the load). */
export function summarize(profile: CpuProfile, root = process.cwd(), window: { fromMs: number; toMs: number } = { fromMs: 0, toMs: Infinity }): ProfileSummary {
  const locate = frameLocator(root);
  // One key per function (name + original location); frames of one function at different sample lines merge.
  const keyOf = new Map<number, string>();
  const info = new Map<string, { name: string; where: string; pkg: string }>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const c of node.children ?? []) parent.set(c, node.id);
    const { name, where, pkg } = locate(node.callFrame);
    const key = `${name}@${where}`;
    keyOf.set(node.id, key);
    if (!info.has(key)) info.set(key, { name, where: where || '(native)', pkg });
  }

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const pkgSelf = new Map<string, number>();
  const pkgAttributed = new Map<string, number>();
  const generic = (pkg: string) => pkg === 'node (core)' || pkg === '(native / builtin)' || pkg === '(anonymous)';
  const runs = new Map<string, number>();
  const longest = new Map<string, number>();
  let sampled = 0;
  let idle = 0;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    at += ms;
    if (at < window.fromMs || at > window.toMs) continue;
    const id = profile.samples[i]!;
    const key = keyOf.get(id)!;
    sampled += ms;
    if (info.get(key)!.name === '(idle)') idle += ms;
    self.set(key, (self.get(key) ?? 0) + ms);
    const pkg = info.get(key)!.pkg;
    pkgSelf.set(pkg, (pkgSelf.get(pkg) ?? 0) + ms);
    // Charge node core and native frames to the nearest caller that belongs to a package or to the gateway.
    let owner = pkg;
    for (let n = parent.get(id); generic(owner) && n !== undefined; n = parent.get(n)) owner = info.get(keyOf.get(n)!)!.pkg;
    if (generic(owner) || owner === '(root)') owner = 'node core / native, no package on the stack';
    pkgAttributed.set(owner, (pkgAttributed.get(owner) ?? 0) + ms);
    // Total: each function once per sample, however deep it recurses.
    const seen = new Set<string>();
    const onStack = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = keyOf.get(n)!;
      onStack.add(info.get(k)!.pkg);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + ms);
    }
    for (const p of [...runs.keys()]) if (!onStack.has(p)) runs.delete(p);
    for (const p of onStack) {
      if (generic(p) || p === '(root)' || p === '(idle)' || p === '(program)') continue;
      const run = (runs.get(p) ?? 0) + ms;
      runs.set(p, run);
      if (run > (longest.get(p) ?? 0)) longest.set(p, run);
    }
  }
  const functions = [...info.entries()]
    .map(([key, i]) => ({ ...i, selfMs: self.get(key) ?? 0, totalMs: total.get(key) ?? 0 }))
    .filter((f) => f.selfMs > 0 || f.totalMs > 0)
    .sort((a, b) => b.selfMs - a.selfMs);
  const names = new Set([...pkgSelf.keys(), ...pkgAttributed.keys()]);
  const packages = [...names]
    .map((pkg) => ({ pkg, selfMs: pkgSelf.get(pkg) ?? 0, attributedMs: pkgAttributed.get(pkg) ?? 0 }))
    .sort((a, b) => b.attributedMs - a.attributedMs);
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  return {
    wallMs,
    window: { fromMs: window.fromMs, toMs: Math.min(window.toMs, wallMs) },
    longestStretch: [...longest.entries()].map(([pkg, ms]) => ({ pkg, ms })).sort((a, b) => b.ms - a.ms),
    sampledMs: sampled,
    idleMs: idle,
    busyMs: sampled - idle,
    functions,
    packages,
  };
}

export function renderSummary(s: ProfileSummary, top = 30): string {
  const pct = (ms: number) => `${((100 * ms) / s.busyMs).toFixed(1)}%`;
  const out: string[] = [];
  const sec = (ms: number) => (ms / 1000).toFixed(1);
  out.push(`Summarised: ${sec(s.window.fromMs)} s to ${sec(s.window.toMs)} s of a ${sec(s.wallMs)} s profile; ` +
    `${sec(s.busyMs)} s busy, ${sec(s.idleMs)} s idle. Percentages are of busy time.`);
  out.push('');
  out.push('| package / area | self | % busy | with the node core / native work it called | % busy |');
  out.push('|---|---:|---:|---:|---:|');
  for (const p of s.packages.filter((p) => p.pkg !== '(idle)').slice(0, 20)) {
    out.push(`| ${p.pkg} | ${p.selfMs.toFixed(0)} ms | ${pct(p.selfMs)} | ${p.attributedMs.toFixed(0)} ms | ${pct(p.attributedMs)} |`);
  }
  out.push('');
  out.push('Longest uninterrupted stretch with the package on the stack (the event loop serves nothing else meanwhile):');
  out.push('');
  out.push('| package / area | longest stretch |');
  out.push('|---|---:|');
  for (const l of s.longestStretch.slice(0, 10)) out.push(`| ${l.pkg} | ${l.ms.toFixed(1)} ms |`);
  out.push('');
  out.push(`| # | function | where | self | % busy | total (on stack) |`);
  out.push('|---:|---|---|---:|---:|---:|');
  s.functions
    .filter((f) => f.name !== '(idle)')
    .slice(0, top)
    .forEach((f, i) => out.push(`| ${i + 1} | ${f.name} | ${f.where} | ${f.selfMs.toFixed(0)} ms | ${pct(f.selfMs)} | ${pct(f.totalMs)} |`));
  out.push('');
  const inclusive = s.functions
    .filter((f) => f.pkg.startsWith('lyss src/') && f.totalMs > 0)
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, 20);
  out.push('Gateway functions by total time (self + what they call):');
  out.push('');
  out.push('| function | where | total | % busy |');
  out.push('|---|---|---:|---:|');
  for (const f of inclusive) out.push(`| ${f.name} | ${f.where} | ${f.totalMs.toFixed(0)} ms | ${pct(f.totalMs)} |`);
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [top] [from-seconds] [to-seconds]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const from = Number(process.argv[4] ?? 0) * 1000;
  const to = process.argv[5] ? Number(process.argv[5]) * 1000 : Infinity;
  process.stdout.write(renderSummary(summarize(profile, process.cwd(), { fromMs: from, toMs: to }), Number(process.argv[3] ?? 30)) + '\n');
}
