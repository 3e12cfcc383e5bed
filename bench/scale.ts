/**
 * Scale past one core: two gateway processes against one Redis and one PostgreSQL. A token with a per-minute
 * rate limit L and a token with a finite quota Q are hit across both at once; the limit must admit exactly L
 * in the burst (GCRA: a burst of L, then one more every 60/L s) and the quota must never be exceeded.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { createDatabase, dropDatabase, spawnGateway, waitReady } from './gateway.js';
import { checkBody } from './load.js';
import { freePort, stopChild, type Child } from './procs.js';

export interface ScaleResult {
  processes: number;
  rate: { limit: number; sent: number; admitted: number; limited: number; other: number; elapsedMs: number; allowance: number; pass: boolean };
  quota: { quota: number; sent: number; admitted: number; refused: number; other: number; clientUsage: number; usedInPostgres: number; pass: boolean };
}

const RATE_KEY = 'lyss-bench-scale-rate-0123456789abcdef0123456789';
const QUOTA_KEY = 'lyss-bench-scale-quota-0123456789abcdef012345678';

function scaleConfig(mockPorts: number[], limit: number, quota: number) {
  const channel = (i: number) => ({
    name: `scale-${i}`,
    type: 'openai',
    base_url: `http://127.0.0.1:${mockPorts[i % mockPorts.length]}/v1`,
    key: `sk-bench-channel-scale-${i}-0123456789abcdef`,
    models: ['gpt-4o-mini'],
    priority: 10,
    weight: 1,
    rate_limit: 0,
    quota: -1,
  });
  return {
    tenants: [
      {
        slug: 'bench-scale',
        name: 'Bench Scale',
        users: [{ email: 'dev@bench-scale.test', password: 'bench scale passphrase', role: 'end_user' }],
        channels: [channel(0), channel(1)],
        tokens: [
          { name: 'rate', user: 'dev@bench-scale.test', key: RATE_KEY, quota: -1, rate_limit: limit },
          { name: 'quota', user: 'dev@bench-scale.test', key: QUOTA_KEY, quota, rate_limit: 0 },
        ],
      },
    ],
  };
}

const body = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 50,
});

/** Sends `count` requests with `key`, `concurrency` at a time, alternating between the gateways. */
async function burst(ports: number[], key: string, count: number, concurrency: number) {
  let next = 0;
  const statuses: number[] = [];
  let usage = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const port = ports[i % ports.length]!;
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        statuses.push(res.status);
        if (res.status === 200) usage += checkBody(text, false) ?? 0;
      } catch {
        statuses.push(0);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, usage, elapsedMs: performance.now() - t0 };
}

export async function runScale(opts: {
  pgServerUrl: string;
  redisUrl: string;
  mockPorts: number[];
  workDir: string;
  secretKey: string;
  limit: number;
  quota: number;
  keepDatabase: boolean;
}): Promise<ScaleResult> {
  const dbName = `lyss_bench_scale_${Date.now()}`;
  const databaseUrl = await createDatabase(opts.pgServerUrl, dbName);
  const configFile = path.join(opts.workDir, 'scale-config.json');
  writeFileSync(configFile, JSON.stringify(scaleConfig(opts.mockPorts, opts.limit, opts.quota)), { mode: 0o600 });
  const gateways: Child[] = [];
  try {
    const ports: number[] = [];
    // One after the other: the second applies the same file idempotently (no concurrent first seeding).
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = spawnGateway(`scale-gateway-${i}`, { port, databaseUrl, redisUrl: opts.redisUrl, secretKey: opts.secretKey, configFile, dataDir: path.join(opts.workDir, `scale-data-${i}`) }, path.join(opts.workDir, `scale-gateway-${i}.log`));
      gateways.push(child);
      await waitReady(child, port, 60_000);
      ports.push(port);
    }

    const r = await burst(ports, RATE_KEY, opts.limit * 3, 16);
    const admitted = r.statuses.filter((s) => s === 200).length;
    const limited = r.statuses.filter((s) => s === 429).length;
    // GCRA refills one request every 60/L s: a burst lasting t may admit floor(t * L / 60 s) more than L.
    const allowance = opts.limit + Math.floor((r.elapsedMs * opts.limit) / 60_000);
    const rate = {
      limit: opts.limit,
      sent: r.statuses.length,
      admitted,
      limited,
      other: r.statuses.length - admitted - limited,
      elapsedMs: Math.round(r.elapsedMs),
      allowance,
      pass: admitted >= opts.limit && admitted <= allowance && admitted + limited === r.statuses.length,
    };

    // Roughly four times what the quota pays for, 32 at a time across both processes.
    const q = await burst(ports, QUOTA_KEY, Math.max(40, Math.ceil((opts.quota / 40) * 4)), 32);
    for (const g of gateways) await stopChild(g);
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
    let used: number;
    try {
      const [row] = await sql<{ used: string }[]>`select used_quota::text as used from provider_tokens where name = 'quota'`;
      used = Number(row!.used);
    } finally {
      await sql.end({ timeout: 5 });
    }
    const qAdmitted = q.statuses.filter((s) => s === 200).length;
    const refused = q.statuses.filter((s) => s === 429 || s === 403).length;
    const quota = {
      quota: opts.quota,
      sent: q.statuses.length,
      admitted: qAdmitted,
      refused,
      other: q.statuses.length - qAdmitted - refused,
      clientUsage: q.usage,
      usedInPostgres: used,
      pass: used <= opts.quota && used === q.usage && qAdmitted + refused === q.statuses.length,
    };
    return { processes: 2, rate, quota };
  } finally {
    for (const g of gateways) await stopChild(g);
    if (!opts.keepDatabase) await dropDatabase(opts.pgServerUrl, dbName).catch(() => {});
  }
}
