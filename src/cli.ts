/**
 * The lyss command line (`npm run lyss -- <command>`): apply a config file, or create one tenant, user,
 * channel or token. Uses the same configuration (environment) and database as the gateway.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { StartupError } from './startup-error.js';
import { createLogger } from './logger.js';
import { applyConfig, loadConfigFile } from './setup/apply.js';
import { createChannel, createTenant, createToken, createUser } from './setup/commands.js';
import { SetupError } from './setup/setup-error.js';

type Flags = Record<string, string | undefined>;

class UsageError extends Error {}

/** An integer flag; ranges are the schema's business. */
function num(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`--${name}: must be an integer, got "${v}"`);
  return Number(v);
}

interface Command {
  usage: string;
  summary: string;
  /** String flags; the required ones are checked before anything opens. */
  flags: string[];
  required: string[];
  positionals: string[];
  run(deps: Deps, flags: Flags, args: string[]): Promise<void>;
}

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));
const out = (line: string) => process.stdout.write(line + '\n');
const note = (line: string) => process.stderr.write(line + '\n');

const commands: Record<string, Command> = {
  apply: {
    usage: 'apply <file>',
    summary: 'apply a YAML or JSON config file (the README\'s LYSS_CONFIG), idempotently, in one transaction',
    flags: [],
    required: [],
    positionals: ['file'],
    async run(deps, _flags, [file]) {
      const parsed = await loadConfigFile(file!);
      const s = await applyConfig({ db: deps.database.db, secrets: deps.secrets }, parsed);
      for (const kind of ['tenants', 'users', 'groups', 'channels', 'tokens'] as const) {
        out(`${kind}: ${s[kind].created} created, ${s[kind].updated} updated, ${s[kind].unchanged} unchanged`);
      }
      out(`group members: ${s.members.added} added, ${s.members.removed} removed`);
    },
  },
  'create-tenant': {
    usage: 'create-tenant --slug <slug> --name <name> [--max-users <n>]',
    summary: 'create a tenant',
    flags: ['slug', 'name', 'max-users'],
    required: ['slug', 'name'],
    positionals: [],
    async run(deps, f) {
      const r = await createTenant(deps.database.db, { slug: f.slug!, name: f.name!, maxUsers: num(f, 'max-users') });
      out(`created tenant ${f.slug} (${r.id})`);
    },
  },
  'create-user': {
    usage: 'create-user --tenant <slug> --email <email> --password <password> --role <super_admin|tenant_admin|end_user>',
    summary: 'create a user in a tenant',
    flags: ['tenant', 'email', 'password', 'role'],
    required: ['tenant', 'email', 'password', 'role'],
    positionals: [],
    async run(deps, f) {
      const r = await createUser(deps.database.db, { tenant: f.tenant!, email: f.email!, password: f.password!, role: f.role! });
      out(`created user ${f.email!.toLowerCase()} in ${f.tenant} (${r.id})`);
    },
  },
  'create-channel': {
    usage:
      'create-channel --tenant <slug> --name <name> --type <provider type> --key <key> --models <a,b> [--base-url <url>]\n' +
      '               [--scope tenant|group|personal] [--group <name>] [--owner <email>] [--priority <n>] [--weight <n>]\n' +
      '               [--rate-limit <rpm>] [--quota <n>]',
    summary: 'create a channel (an upstream key); the key is encrypted at rest',
    flags: ['tenant', 'name', 'type', 'key', 'models', 'base-url', 'scope', 'group', 'owner', 'priority', 'weight', 'rate-limit', 'quota'],
    required: ['tenant', 'name', 'type', 'key', 'models'],
    positionals: [],
    async run(deps, f) {
      const r = await createChannel(
        { db: deps.database.db, secrets: deps.secrets },
        {
          tenant: f.tenant!,
          name: f.name!,
          type: f.type!,
          key: f.key!,
          models: list(f.models) ?? [],
          baseUrl: f['base-url'],
          scope: f.scope,
          group: f.group,
          owner: f.owner,
          priority: num(f, 'priority'),
          weight: num(f, 'weight'),
          rateLimit: num(f, 'rate-limit'),
          quota: num(f, 'quota'),
        },
      );
      out(`created channel ${f.name} in ${f.tenant} (${r.id})`);
    },
  },
  'create-token': {
    usage:
      'create-token --tenant <slug> --user <email> --name <name> [--allowed-models <a,b>] [--allowed-channels <names>]\n' +
      '             [--quota <n>] [--rate-limit <rpm>] [--expires-at <ISO date-time>]',
    summary: 'create a relay token; prints it once on stdout (only its digest is stored)',
    flags: ['tenant', 'user', 'name', 'allowed-models', 'allowed-channels', 'quota', 'rate-limit', 'expires-at'],
    required: ['tenant', 'user', 'name'],
    positionals: [],
    async run(deps, f) {
      const r = await createToken(deps.database.db, {
        tenant: f.tenant!,
        user: f.user!,
        name: f.name!,
        allowedModels: list(f['allowed-models']),
        allowedChannels: list(f['allowed-channels']),
        quota: num(f, 'quota'),
        rateLimit: num(f, 'rate-limit'),
        expiresAt: f['expires-at'],
      });
      note(`created token ${f.name} for ${f.user} in ${f.tenant} (${r.id}); it is shown only this once:`);
      out(r.token);
    },
  },
};

function usage(): string {
  const lines = ['usage: npm run lyss -- <command> [options]', '', 'commands:'];
  for (const c of Object.values(commands)) lines.push(`  ${c.usage}`, `      ${c.summary}`);
  lines.push('  help', '      show this help', '', 'Configuration comes from the environment, as for the gateway (DATABASE_URL, LYSS_DATA_DIR, LYSS_SECRET_KEY).');
  return lines.join('\n');
}


async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    out(usage());
    return;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"`);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(command.flags.map((f) => [f, { type: 'string' as const }])),
      allowPositionals: command.positionals.length > 0,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const flags = parsed.values as Flags;
  const missing = command.required.filter((f) => flags[f] === undefined).map((f) => `--${f}`);
  if (parsed.positionals.length < command.positionals.length) missing.unshift(...command.positionals.slice(parsed.positionals.length).map((p) => `<${p}>`));
  if (missing.length > 0) throw new UsageError(`${name}: missing ${missing.join(', ')}\nusage: npm run lyss -- ${command.usage}`);
  if (parsed.positionals.length > command.positionals.length) throw new UsageError(`${name}: unexpected argument "${parsed.positionals[command.positionals.length]}"`);

  const config = loadConfig();
  const deps = await createDeps(config, createLogger(config.LOG_LEVEL));
  try {
    await command.run(deps, flags, parsed.positionals);
  } finally {
    await deps.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) process.stderr.write(`lyss: ${err.message}\nrun "npm run lyss -- help" for the commands\n`);
  else if (err instanceof SetupError || err instanceof ConfigError || err instanceof StartupError) process.stderr.write(`lyss: ${err.message}\n`);
  else process.stderr.write(`lyss: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
