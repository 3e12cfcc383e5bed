/**
 * The LYSS_CONFIG file (design.md §8): its zod schema, parsing from YAML or JSON, and the checks that need
 * only the file. Every problem names its entry (`tenants[0] (acme).channels[1] (openai-main).type`);
 * checks that need the database (provider types, references to existing rows) happen in apply.ts.
 */
import { readFile } from 'node:fs/promises';
import { nulPath } from '../nul-text.js';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { userRoles } from '../db/schema/auth.js';
import { SetupError } from './setup-error.js';
import {
  channelConfig,
  channelKey,
  channelModels,
  channelScope,
  email,
  httpUrl,
  int,
  INT32_MAX,
  isoDateTime,
  modelMapping,
  modelName,
  password,
  quota,
  slug,
  text,
} from '../input-fields.js';

export const userEntrySchema = z.strictObject({
  email,
  password,
  role: z.enum(userRoles, { error: `must be one of ${userRoles.join(', ')}` }),
});

export const groupEntrySchema = z.strictObject({
  name: text(100),
  /** Emails; the group's whole membership (members not listed are removed). */
  members: z.array(email).default([]),
});

export const channelEntrySchema = z.strictObject({
  name: text(100),
  /** provider_types.name; checked against the table when applied. */
  type: text(50),
  base_url: httpUrl.nullable().default(null),
  key: channelKey,
  models: channelModels,
  model_mapping: modelMapping.default({}),
  priority: int(-INT32_MAX).default(1),
  weight: int(1).default(1),
  /** Requests per minute. */
  rate_limit: int(0).default(100),
  quota: quota().default(-1),
  scope: channelScope.default('tenant'),
  /** Group name, for scope group. */
  group: text(100).optional(),
  /** User email, for scope personal. */
  owner: email.optional(),
  /** Adapter options (e.g. { api_version } for azure-openai). */
  config: channelConfig.default({}),
});

export const tokenEntrySchema = z.strictObject({
  name: text(100),
  /** The owner's email. */
  user: email,
  /** The plaintext token; only its SHA-256 digest and a display prefix are stored. */
  key: z
    .string()
    .min(32, 'must be at least 32 characters')
    .max(512, 'must be at most 512 characters')
    .regex(/^\S+$/, 'must not contain whitespace'),
  allowed_models: z.array(modelName).default([]),
  /** Channel names of this tenant; stored as channel ids. */
  allowed_channels: z.array(text(100)).default([]),
  quota: quota().default(-1),
  rate_limit: int(0).default(60),
  expires_at: isoDateTime.nullable().default(null),
});

export const tenantEntrySchema = z.strictObject({
  slug,
  name: text(255),
  max_users: int(1).default(10),
  settings: z.strictObject({ store_content: z.boolean().optional() }).default({}),
  users: z.array(userEntrySchema).default([]),
  groups: z.array(groupEntrySchema).default([]),
  channels: z.array(channelEntrySchema).default([]),
  tokens: z.array(tokenEntrySchema).default([]),
});

export const configFileSchema = z.strictObject({
  tenants: z.array(tenantEntrySchema),
});

export type ParsedConfig = z.output<typeof configFileSchema>;
export type TenantEntry = ParsedConfig['tenants'][number];
export type UserEntry = TenantEntry['users'][number];
export type GroupEntry = TenantEntry['groups'][number];
export type ChannelEntry = TenantEntry['channels'][number];
export type TokenEntry = TenantEntry['tokens'][number];

/** Reads, parses and validates a config file; throws a SetupError listing every problem. */
export async function loadConfigFile(file: string): Promise<ParsedConfig> {
  let textContent: string;
  try {
    textContent = await readFile(file, 'utf8');
  } catch (err) {
    throw new SetupError([`${file}: ${err instanceof Error ? err.message : String(err)}`], 'cannot read config file');
  }
  return validateConfig(parseConfigText(textContent, file), file);
}

/** YAML or JSON text -> plain data. `.json` files are parsed as JSON; anything else as YAML (a JSON superset). */
export function parseConfigText(content: string, source: string): unknown {
  if (/\.json$/i.test(source)) {
    try {
      return JSON.parse(content) as unknown;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const at = /at position (\d+)/.exec(message);
      const where = at ? `line ${lineCol(content, Number(at[1])).join(', column ')}: ` : '';
      throw new SetupError([`${source}: ${where}${message}`], 'cannot parse config file');
    }
  }
  const doc = parseDocument(content, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new SetupError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        // prettyErrors appends " at line L, column C:" and a source excerpt; keep the sentence, state the position once.
        const sentence = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return pos ? `${source}: line ${pos.line}, column ${pos.col}: ${sentence}` : `${source}: ${sentence}`;
      }),
      'cannot parse config file',
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw new SetupError([`${source}: ${err instanceof Error ? err.message : String(err)}`], 'cannot parse config file');
  }
}

function lineCol(content: string, offset: number): [number, number] {
  const before = content.slice(0, offset).split('\n');
  return [before.length, before[before.length - 1]!.length + 1];
}

/** Plain data -> ParsedConfig, or a SetupError naming every bad entry. */
export function validateConfig(raw: unknown, source = 'config'): ParsedConfig {
  if (raw === null || raw === undefined) throw new SetupError([`${source}: the file is empty`], 'invalid config file');
  const nul = nulPath(raw);
  if (nul) throw new SetupError([`${describePath(raw, nul) || source}: must not contain NUL characters (\\u0000)`], `invalid config file ${source}`);
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SetupError(parsed.error.issues.flatMap((i) => formatIssue(i, raw)), `invalid config file ${source}`);
  }
  const problems = checkConsistency(parsed.data);
  if (problems.length > 0) throw new SetupError(problems, `invalid config file ${source}`);
  return parsed.data;
}

/** Formats zod issues of one entry schema (CLI input), naming fields by their key. */
export function formatIssues(error: z.ZodError, raw: unknown): string[] {
  return error.issues.flatMap((i) => formatIssue(i, raw));
}

function formatIssue(issue: z.core.$ZodIssue, raw: unknown): string[] {
  const where = describePath(raw, issue.path);
  const at = (suffix: string) => (where ? `${where}.${suffix}` : suffix);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${at(k)}: unknown key`);
  if (issue.code === 'invalid_type') {
    const value = valueAt(raw, issue.path);
    if (value === undefined) return [`${where || 'config'}: is required`];
    const expected = issue.expected === 'int' ? 'an integer' : `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    // Never echo a secret field's value into an error (and so into logs).
    const last = issue.path[issue.path.length - 1];
    const got = last === 'key' || last === 'password' ? '' : `, got ${describeValue(value)}`;
    return [`${where || 'config'}: must be ${expected}${got}`];
  }
  if (issue.code === 'invalid_value' && valueAt(raw, issue.path) === undefined) return [`${where || 'config'}: is required`];
  return [`${where || 'config'}: ${issue.message}`];
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 40 ? value.slice(0, 40) + '…' : value}"`;
  return String(value);
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

/** `tenants[0] (acme).channels[1] (openai-main).type`: indexes carry the entry's slug, name or email. */
export function describePath(raw: unknown, path: readonly PropertyKey[]): string {
  let out = '';
  let node = raw;
  for (const seg of path) {
    const child = node !== null && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[seg] : undefined;
    if (typeof seg === 'number') {
      out += `[${seg}]`;
      const label = entryLabel(child);
      if (label) out += ` (${label})`;
    } else {
      out += (out ? '.' : '') + String(seg);
    }
    node = child;
  }
  return out;
}

function entryLabel(entry: unknown): string | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return undefined;
  const e = entry as Record<string, unknown>;
  for (const key of ['slug', 'name', 'email']) if (typeof e[key] === 'string' && e[key] !== '' && !e[key].includes('\0')) return e[key];
  return undefined;
}

/** Checks across entries that need only the file: duplicates, and scope/group/owner coherence. */
function checkConsistency(file: ParsedConfig): string[] {
  const problems: string[] = [];
  const at = (...path: PropertyKey[]) => describePath(file, path);
  const firstSeen = new Map<string, string>();
  // `secret` values (token keys) are compared but never written into a message.
  const duplicate = (scope: string, value: string, where: string, what: string, secret = false) => {
    const key = `${scope}\0${value}`;
    const seen = firstSeen.get(key);
    if (seen) problems.push(`${where}: duplicate ${what}${secret ? '' : ` "${value}"`} (also ${seen})`);
    else firstSeen.set(key, where);
  };

  file.tenants.forEach((tenant, t) => {
    duplicate('tenant', tenant.slug, at('tenants', t, 'slug'), 'tenant slug');
    if (tenant.users.length > tenant.max_users) {
      problems.push(`${at('tenants', t, 'users')}: ${tenant.users.length} users exceed max_users ${tenant.max_users}`);
    }
    tenant.users.forEach((u, i) => duplicate(`user:${t}`, u.email, at('tenants', t, 'users', i, 'email'), 'user email'));
    tenant.groups.forEach((g, i) => {
      duplicate(`group:${t}`, g.name, at('tenants', t, 'groups', i, 'name'), 'group name');
      g.members.forEach((m, j) => duplicate(`member:${t}:${i}`, m, at('tenants', t, 'groups', i, 'members', j), 'member'));
    });
    tenant.channels.forEach((c, i) => {
      duplicate(`channel:${t}`, c.name, at('tenants', t, 'channels', i, 'name'), 'channel name');
      const where = at('tenants', t, 'channels', i);
      if (c.scope === 'group' && !c.group) problems.push(`${where}.group: is required for scope group`);
      if (c.scope !== 'group' && c.group) problems.push(`${where}.group: only applies to scope group (scope is ${c.scope})`);
      if (c.scope === 'personal' && !c.owner) problems.push(`${where}.owner: is required for scope personal`);
      if (c.scope !== 'personal' && c.owner) problems.push(`${where}.owner: only applies to scope personal (scope is ${c.scope})`);
    });
    tenant.tokens.forEach((k, i) => {
      duplicate(`token:${t}:${k.user}`, k.name, at('tenants', t, 'tokens', i, 'name'), `token name for ${k.user}`);
      // Digests are unique across the whole database, so a key may appear once in the whole file.
      duplicate('token-key', k.key, at('tenants', t, 'tokens', i, 'key'), 'token key', true);
    });
  });
  return problems;
}
