/**
 * A local Redis Cluster of three masters on loopback, started by the test (redis-server in cluster mode,
 * no persistence) and shut down after. Ports 7101-7103 when free, else three others (each port's cluster bus,
 * port + 10000, must be free too).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface RedisCluster {
  ports: number[];
  /** The REDIS_URL for the gateway: the nodes, comma-separated. */
  url: string;
  stop(): Promise<void>;
}

export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function pickPorts(): Promise<number[]> {
  const usable = async (p: number) => (await portFree(p)) && (await portFree(p + 10_000));
  const preferred = [7101, 7102, 7103];
  if ((await Promise.all(preferred.map(usable))).every(Boolean)) return preferred;
  for (let base = 21_000 + Math.floor(Math.random() * 200) * 10; base < 30_000; base += 10) {
    const ports = [base + 1, base + 2, base + 3];
    if ((await Promise.all(ports.map(usable))).every(Boolean)) return ports;
  }
  throw new Error('no free ports for a Redis Cluster');
}

const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lyss-redis-cluster-'));
  const ports = await pickPorts();
  const stop = async () => {
    for (const port of ports) {
      try {
        cli(port, 'shutdown', 'nosave');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      execFileSync('redis-server', [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'yes',
        '--logfile', path.join(dir, `redis-${port}.log`),
        '--pidfile', path.join(dir, `redis-${port}.pid`),
      ]);
    }
    for (const port of ports) await until(() => cli(port, 'ping').trim() === 'PONG', 10_000);
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    for (const port of ports) await until(() => cli(port, 'cluster', 'info').includes('cluster_state:ok'), 20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','), stop };
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('redis cluster did not come up in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
