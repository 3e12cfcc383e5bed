/** Deletes every key a test run wrote under its prefix, on a single Redis or every Cluster master. */
import { Cluster, Redis } from 'ioredis';

export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<void> {
  const urls = url.split(',').map((u) => u.trim()).filter(Boolean);
  const nodes: Redis[] = [];
  let cluster: Cluster | null = null;
  if (urls.length > 1) {
    cluster = new Cluster(urls.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port || 6379) })));
    await new Promise<void>((resolve, reject) => {
      cluster?.once('ready', () => resolve());
      cluster?.once('error', reject);
    });
    nodes.push(...cluster.nodes('master'));
  } else {
    nodes.push(new Redis(urls[0] ?? 'redis://127.0.0.1:6379'));
  }
  try {
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        // One DEL per key: keys of one node can still sit in different slots.
        for (const key of keys) await node.del(key);
      } while (cursor !== '0');
    }
  } finally {
    if (cluster) await cluster.quit();
    else await Promise.all(nodes.map((n) => n.quit()));
  }
}
