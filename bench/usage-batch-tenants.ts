/**
 * What one usage batch costs as the number of tenants in it grows: the gateway's own writeUsageBatch on a
 * fresh PostgreSQL database seeded with 40 tenants (a user, a channel and a token each), batches of new
 * conversations (a user and an assistant message each) spread round-robin over 1, 3, 10 and 40 tenants.
 * Prints wall time, this process's CPU and PostgreSQL's CPU per batch, averaged over BENCH_BATCH_ROUNDS.
 * The 3-tenant bench table never shows this cost; a gateway serving many tenants pays it on every batch.
 * `node --import tsx bench/usage-batch-tenants.ts` (PostgreSQL on BENCH_DATABASE_URL's server, as run.ts);
 * BENCH_BATCH_PROMPT_CHARS=20000 gives every conversation a system prompt that long (bench's long-prompt kind);
 * BENCH_BATCH_TOKENS_PER_TENANT (25) spreads each tenant's records over that many tokens, as the bench's 1,000
 * tokens do: with one token a tenant, a plan that read every token of a tenant per record went unnoticed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createDatabase, dropDatabase } from './gateway.js';
import { loadSettings } from './setup.js';
import { longText } from './seed.js';
import { openDatabase } from '../src/db/client.js';
import { createSecretBox } from '../src/crypto/secrets.js';
import { createChannel, createTenant, createToken, createUser } from '../src/setup/commands.js';
import { writeUsageBatch } from '../src/usage/usage-repo.js';
import type { UsageRecord } from '../src/usage/usage-record.js';

const TENANT_COUNTS = [1, 3, 10, 40];
const BATCH_SIZES = [60, 300];
const rounds = Number(process.env.BENCH_BATCH_ROUNDS ?? 15);
const promptChars = Number(process.env.BENCH_BATCH_PROMPT_CHARS ?? 0);
const tokensPerTenant = Number(process.env.BENCH_BATCH_TOKENS_PER_TENANT ?? 25);
const systemPrompt = promptChars > 0 ? longText(promptChars) : null;

interface Owner {
  tenantId: string;
  userId: string;
  tokenId: string;
  channelId: string;
}

/** CPU ms of every postgres process on the machine (utime + stime in 10 ms ticks): run it on a quiet machine. */
function postgresCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks * 10;
}

function record(o: Owner): UsageRecord {
  return {
    ...o,
    cost: 40,
    promptTokens: 25,
    completionTokens: 15,
    model: 'gpt-4o',
    at: new Date().toISOString(),
    conversation: {
      id: randomUUID(),
      title: 'Say hello to the benchmark in one short sentence',
      systemPrompt,
      messageCount: 2,
      messages: [
        { role: 'user', content: 'Say hello to the benchmark in one short sentence, please.', tokenCount: 14 },
        { role: 'assistant', content: 'Hello, benchmark! This is a short answer from the mock upstream.', tokenCount: 15, modelUsed: 'gpt-4o', responseTimeMs: 3 },
      ],
    },
  };
}

const server = loadSettings().databaseServer;
const name = `lyss_batch_tenants_${Date.now()}`;
const url = await createDatabase(server, name);
const database = await openDatabase({ url });
try {
  const db = database.db;
  const secrets = createSecretBox([{ version: 1, key: randomBytes(32) }]);
  // owners[tenant][token]
  const owners: Owner[][] = [];
  for (let i = 0; i < Math.max(...TENANT_COUNTS); i++) {
    const slug = `t${i}`;
    const { id: tenantId } = await createTenant(db, { slug, name: slug });
    const { id: userId } = await createUser(db, { tenant: slug, email: `u@${slug}.test`, password: 'a long enough passphrase', role: 'end_user' });
    const { id: channelId } = await createChannel({ db, secrets }, { tenant: slug, name: 'c', type: 'openai', key: 'sk-bench', models: ['gpt-4o'] });
    const tokens: Owner[] = [];
    for (let k = 0; k < tokensPerTenant; k++) {
      const { id: tokenId } = await createToken(db, { tenant: slug, user: `u@${slug}.test`, name: `k${k}` });
      tokens.push({ tenantId, userId, tokenId, channelId });
    }
    owners.push(tokens);
  }
  /** The i-th record of a batch over `tenants` tenants: tenants round-robin, each tenant's tokens in turn. */
  const ownerOf = (i: number, tenants: number) => owners[i % tenants]![Math.floor(i / tenants) % tokensPerTenant]!;
  // Warm-up: first plans, first partition pages.
  for (let r = 0; r < 5; r++) await writeUsageBatch(database.usageWriter, owners.map((tokens) => record(tokens[r % tokensPerTenant]!)));

  console.log('| tenants in the batch | records | wall ms per batch | this process CPU ms per batch | PostgreSQL CPU ms per batch |');
  console.log('|---:|---:|---:|---:|---:|');
  for (const tenants of TENANT_COUNTS) {
    for (const size of BATCH_SIZES) {
      const cpu0 = process.cpuUsage();
      const pg0 = postgresCpuMs();
      const t0 = performance.now();
      for (let r = 0; r < rounds; r++) await writeUsageBatch(database.usageWriter, Array.from({ length: size }, (_, i) => record(ownerOf(i, tenants))));
      const wall = (performance.now() - t0) / rounds;
      const cpu = process.cpuUsage(cpu0);
      const pg = (postgresCpuMs() - pg0) / rounds;
      console.log(`| ${tenants} | ${size} | ${wall.toFixed(1)} | ${((cpu.user + cpu.system) / 1000 / rounds).toFixed(1)} | ${pg.toFixed(1)} |`);
    }
  }
} finally {
  await database.close();
  await dropDatabase(server, name);
}
