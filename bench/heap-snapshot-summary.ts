/** A V8 heap snapshot summed by kind: objects by constructor name, the rest by V8's node type (strings, code, arrays, ...). */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapKinds {
  totalBytes: number;
  nodes: number;
  top: { name: string; bytes: number; count: number }[];
}

export function summarizeHeapSnapshot(file: string): HeapKinds {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const kinds = new Map<string, { bytes: number; count: number }>();
  let totalBytes = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const name = type === 'object' || type === 'closure' ? `${snap.strings[snap.nodes[i + nameAt]!]!.slice(0, 60)}${type === 'closure' ? ' (function)' : ''}` : `(${type})`;
    const size = snap.nodes[i + sizeAt]!;
    totalBytes += size;
    const k = kinds.get(name);
    if (k) {
      k.bytes += size;
      k.count++;
    } else kinds.set(name, { bytes: size, count: 1 });
  }
  const top = [...kinds].map(([name, k]) => ({ name, ...k })).sort((a, b) => b.bytes - a.bytes);
  return { totalBytes, nodes: snap.nodes.length / width, top };
}
