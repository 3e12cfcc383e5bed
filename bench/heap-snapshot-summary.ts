/**
 * A V8 heap snapshot summed two ways: by kind (objects by constructor name, the rest by V8's node type), and
 * by what holds the memory: each object's retained size (what would be freed with it, from the dominator tree),
 * summed over the objects nothing but the GC roots holds, by kind. A function's scope (a context) is named by
 * its first variables, which tells whose closure it is: with thousands of streams open, the second table reads
 * as "per stream: so much in the relay's scope, so much in Node's response, in undici's client".
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface Kind {
  name: string;
  bytes: number;
  count: number;
}

export interface HeapKinds {
  totalBytes: number;
  nodes: number;
  /** By self size. */
  top: Kind[];
  /** Retained sizes of the objects held directly by the GC roots, by kind. */
  holders: Kind[];
}

export function summarizeHeapSnapshot(file: string): HeapKinds {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const meta = snap.snapshot.meta;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const width = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const [typeAt, nameAt, sizeAt, edgeCountAt] = ['type', 'name', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as [number, number, number, number];
  const [edgeTypeAt, edgeNameAt, edgeToAt] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [number, number, number];
  const count = snap.nodes.length / width;
  const { nodes, edges, strings } = snap;

  const nameOf = (n: number): string => {
    const type = types[nodes[n * width + typeAt]!]!;
    if (type === 'closure') return `${strings[nodes[n * width + nameAt]!]!.slice(0, 60)} (function)`;
    return type === 'object' ? strings[nodes[n * width + nameAt]!]!.slice(0, 60) : `(${type})`;
  };
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += nodes[n * width + edgeCountAt]! * edgeWidth;
    firstEdge[n + 1] = e;
  }
  const top = sumBy(count, nameOf, (n) => nodes[n * width + sizeAt]!);

  // Dominators (Cooper, Harvey and Kennedy's iteration over a reverse post-order), weak edges left out.
  const weak = new Set([edgeTypes.indexOf('weak'), edgeTypes.indexOf('shortcut')]);
  const strong = (e: number) => !weak.has(edges[e + edgeTypeAt]!);
  const target = (e: number) => edges[e + edgeToAt]! / width;
  const order = new Int32Array(count).fill(-1);
  const postOrder = new Int32Array(count);
  let reached = 0;
  const stackNode = new Int32Array(count);
  const stackEdge = new Uint32Array(count);
  const seen = new Uint8Array(count);
  // Node 0 is the snapshot's root: it finishes last, so the iteration below (reverse post-order) starts after it.
  let depth = 1;
  seen[0] = 1;
  stackNode[0] = 0;
  stackEdge[0] = firstEdge[0]!;
  while (depth > 0) {
    const n = stackNode[depth - 1]!;
    const e = stackEdge[depth - 1]!;
    if (e < firstEdge[n + 1]!) {
      stackEdge[depth - 1] = e + edgeWidth;
      if (!strong(e)) continue;
      const to = target(e);
      if (seen[to]) continue;
      seen[to] = 1;
      stackNode[depth] = to;
      stackEdge[depth] = firstEdge[to]!;
      depth++;
    } else {
      order[n] = reached;
      postOrder[reached++] = n;
      depth--;
    }
  }
  const predStart = new Uint32Array(count + 1);
  for (let n = 0; n < count; n++) if (seen[n]) for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += edgeWidth) if (strong(e)) predStart[target(e) + 1]!++;
  for (let n = 0; n < count; n++) predStart[n + 1]! += predStart[n]!;
  const preds = new Int32Array(predStart[count]!);
  const fill = predStart.slice();
  for (let n = 0; n < count; n++) if (seen[n]) for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += edgeWidth) if (strong(e)) preds[fill[target(e)]!++] = n;
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (order[a]! < order[b]!) a = idom[a]!;
      while (order[b]! < order[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = reached - 2; k >= 0; k--) {
      const n = postOrder[k]!;
      let dom = -1;
      for (let p = predStart[n]!; p < predStart[n + 1]!; p++) {
        const q = preds[p]!;
        if (idom[q] !== -1) dom = dom === -1 ? q : intersect(q, dom);
      }
      if (dom !== -1 && idom[n] !== dom) {
        idom[n] = dom;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  for (let k = 0; k < reached; k++) {
    const n = postOrder[k]!;
    retained[n]! += nodes[n * width + sizeAt]!;
    if (n !== 0) retained[idom[n]!]! += retained[n]!;
  }
  const isRoot = (n: number) => n === 0 || types[nodes[n * width + typeAt]!] === 'synthetic';
  const holderName = (n: number): string => {
    const name = nameOf(n);
    if (name !== 'system / Context') return name;
    const vars: string[] = [];
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]! && vars.length < 6; e += edgeWidth) {
      if (edgeTypes[edges[e + edgeTypeAt]!] === 'context') vars.push(strings[edges[e + edgeNameAt]!]!);
    }
    return `scope of ${vars.join(', ') || '?'}`;
  };
  const holders = sumBy(count, holderName, (n) => (seen[n] && !isRoot(n) && isRoot(idom[n]!) ? retained[n]! : -1));
  let totalBytes = 0;
  for (let n = 0; n < count; n++) totalBytes += nodes[n * width + sizeAt]!;
  return { totalBytes, nodes: count, top, holders };
}

/** Sums `size(n)` by `name(n)` over the nodes whose size is not negative, largest first. */
function sumBy(count: number, name: (n: number) => string, size: (n: number) => number): Kind[] {
  const kinds = new Map<string, Kind>();
  for (let n = 0; n < count; n++) {
    const bytes = size(n);
    if (bytes < 0) continue;
    const key = name(n);
    const k = kinds.get(key);
    if (k) {
      k.bytes += bytes;
      k.count++;
    } else kinds.set(key, { name: key, bytes, count: 1 });
  }
  return [...kinds.values()].sort((a, b) => b.bytes - a.bytes);
}
