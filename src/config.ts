/**
 * Every environment variable the gateway reads, in one zod schema. Nothing else reads process.env:
 * configuration is validated once at boot and bad values stop the process with every problem named.
 */
import { z } from 'zod';
import { isUrlWith } from './input-fields.js';

// Plain decimal digits, around them only whitespace (an env file's CRLF): " ", "0x50" and "1e4" are typos, not
// numbers (a blank PORT once meant a random port).
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^[0-9]+$/, `must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .default(def);

const postgresUrl = z
  .string()
  .refine((v) => isUrlWith(v, ['postgres:', 'postgresql:']), 'must be a postgres:// or postgresql:// URL with a host');

// One URL, or a comma-separated list of cluster nodes.
const redisUrl = z.string().refine(
  (v) => v.split(',').every((part) => isUrlWith(part.trim(), ['redis:', 'rediss:'])),
  'must be a redis:// URL, or a comma-separated list of them for Redis Cluster',
);

// `base64key` (version 1) or `v:base64key,v:base64key` (first is current; the rest decrypt old data).
const secretKey = z.string().refine((v) => parseSecretKeys(v) !== null, {
  message: 'must be 32 bytes in base64 (or hex), optionally versioned as "2:key,1:oldkey"',
});

const modelRatios = z
  .string()
  .transform((v, ctx) => {
    try {
      return z.record(z.string(), z.number().positive()).parse(JSON.parse(v));
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of model name -> positive number' });
      return z.NEVER;
    }
  });

/** `*` (any origin), `none`, or a comma-separated list of origins (`https://app.example.com`). */
const corsOrigins = z
  .string()
  .transform((v, ctx): '*' | string[] => {
    const list = v.split(',').map((o) => o.trim()).filter(Boolean);
    if (list.length === 1 && list[0] === '*') return '*';
    if (list.length === 1 && list[0] === 'none') return [];
    const bad = list.find((o) => !URL.canParse(o) || new URL(o).origin !== o);
    if (bad !== undefined || list.length === 0) {
      ctx.addIssue({ code: 'custom', message: `must be *, none or a comma-separated list of origins like https://app.example.com${bad ? ` (not an origin: ${bad})` : ''}` });
      return z.NEVER;
    }
    return list;
  });

const booleanish = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envSchema = z.object({
  PORT: int(8080, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: postgresUrl.optional(),
  REDIS_URL: redisUrl.optional(),
  LYSS_DATA_DIR: z.string().min(1).default('./data'),
  LYSS_SECRET_KEY: secretKey.optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  LYSS_CONFIG: z.string().min(1).optional(),
  /** Unset: admin@lyss.local (left unset so that LYSS_CONFIG can tell it was not given). */
  LYSS_ADMIN_EMAIL: z.email().optional(),
  LYSS_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  LYSS_WORKERS: int(0, 0, 256),
  LYSS_BACKGROUND_NICE: int(10, 0, 19),
  LYSS_BODY_LIMIT_BYTES: int(10 * 1024 * 1024, 1024),
  LYSS_RELAY_RETRIES: int(2, 0, 10),
  LYSS_CONNECT_TIMEOUT_MS: int(10_000, 100),
  LYSS_FIRST_BYTE_TIMEOUT_MS: int(300_000, 100),
  LYSS_IDLE_TIMEOUT_MS: int(300_000, 100),
  LYSS_DEFAULT_MAX_TOKENS: int(4096, 1),
  LYSS_RESERVATION_TTL_MS: int(15 * 60_000, 1000),
  LYSS_MODEL_RATIOS: modelRatios.optional(),
  LYSS_USAGE_FLUSH_MS: int(100, 10),
  LYSS_USAGE_BATCH_SIZE: int(500, 1),
  LYSS_USAGE_QUEUE_MAX: int(100_000, 1),
  LYSS_REDIS_FAILURE_MODE: z.enum(['closed', 'open']).default('closed'),
  LYSS_LEASE_MS: int(10_000, 0, 60_000),
  LYSS_COOLDOWN_FAILURES: int(5, 1),
  LYSS_COOLDOWN_WINDOW_MS: int(60_000, 100),
  LYSS_COOLDOWN_MS: int(30_000, 100),
  LYSS_PROBE_INTERVAL_MS: int(60_000, 100),
  LYSS_SHUTDOWN_GRACE_MS: int(30_000, 0),
  LYSS_LOGIN_MAX_ATTEMPTS: int(5, 1),
  LYSS_LOGIN_LOCK_MS: int(15 * 60_000, 1000),
  LYSS_SESSION_TTL_MS: int(60 * 60_000, 1000),
  LYSS_REFRESH_TTL_MS: int(30 * 24 * 60 * 60_000, 1000),
  LYSS_TRUST_PROXY: booleanish.default(false),
  LYSS_CORS_ORIGINS: corsOrigins.default('*'),
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws a ConfigError naming every bad variable. Empty strings count as unset. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const parsed = envSchema.safeParse(relevant);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}

/** `key` or `v:key,v:key` -> versioned 32-byte keys, current first; null when malformed. */
export function parseSecretKeys(value: string): { version: number; key: Buffer }[] | null {
  const parts = value.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) return null;
  const keys: { version: number; key: Buffer }[] = [];
  for (const part of parts) {
    const m = /^(?:(\d{1,5}):)?(.+)$/.exec(part);
    if (!m) return null;
    const version = m[1] === undefined ? 1 : Number(m[1]);
    const raw = m[2]!;
    const key = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
    if (key.length !== 32 || version < 1) return null;
    if (keys.some((k) => k.version === version)) return null;
    keys.push({ version, key });
  }
  if (parts.length > 1 && parts.some((p) => !p.includes(':'))) return null;
  return keys;
}
