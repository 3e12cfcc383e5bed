import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText, validateConfig } from '../../../src/setup/config-file.js';
import { SetupError } from '../../../src/setup/setup-error.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The problems of the SetupError `work` throws (fails the test when it does not throw one). */
function problemsOf(work: () => unknown): string[] {
  try {
    work();
  } catch (err) {
    expect(err).toBeInstanceOf(SetupError);
    return (err as SetupError).problems;
  }
  throw new Error('expected a SetupError');
}

const minimal = (tenant: Record<string, unknown>) => ({ tenants: [{ slug: 'acme', name: 'Acme', ...tenant }] });
const channel = (c: Record<string, unknown> = {}) => ({ name: 'openai-main', type: 'openai', key: 'sk-x', models: ['gpt-4o'], ...c });
const token = (t: Record<string, unknown> = {}) => ({ name: 'ci', user: 'dev@acme.test', key: 'lyss-0123456789abcdef0123456789abcdef', ...t });

describe('config file parsing', () => {
  it('parses the design.md §8 example and fills defaults', async () => {
    const file = await loadConfigFile(path.join(fixtures, 'acme.yaml'));
    const acme = file.tenants[0]!;
    expect(acme).toMatchObject({ slug: 'acme', name: 'Acme Inc', max_users: 50, settings: { store_content: true } });
    expect(acme.users.map((u) => u.role)).toEqual(['tenant_admin', 'end_user']);
    expect(acme.channels[0]).toMatchObject({ type: 'openai', priority: 10, weight: 3, rate_limit: 1000, quota: -1, scope: 'tenant' });
    expect(acme.tokens[0]).toMatchObject({ name: 'ci', rate_limit: 600, expires_at: null, allowed_channels: [] });

    const defaults = validateConfig(minimal({ channels: [channel()], tokens: [token()] }));
    expect(defaults.tenants[0]).toMatchObject({ max_users: 10, settings: {}, users: [], groups: [] });
    expect(defaults.tenants[0]!.channels[0]).toMatchObject({ base_url: null, model_mapping: {}, priority: 1, weight: 1, rate_limit: 100, quota: -1, scope: 'tenant', config: {} });
    expect(defaults.tenants[0]!.tokens[0]).toMatchObject({ allowed_models: [], allowed_channels: [], quota: -1, rate_limit: 60, expires_at: null });
  });

  it('reads .json files as JSON and lowercases emails', async () => {
    const file = await loadConfigFile(path.join(fixtures, 'two-tenants.json'));
    expect(file.tenants.map((t) => t.slug)).toEqual(['globex', 'initech']);
    expect(file.tenants[0]!.users[0]!.email).toBe('boss@globex.test');
  });

  it('names the line and column of a YAML syntax error', () => {
    const problems = problemsOf(() => parseConfigText('tenants:\n  - slug: acme\n    name: [unclosed\n  users: x\n', 'lyss.yaml'));
    expect(problems[0]).toMatch(/^lyss\.yaml: line \d+, column \d+: /);
  });

  it('names the line and column of a JSON syntax error', () => {
    const problems = problemsOf(() => parseConfigText('{\n  "tenants": [\n    { "slug": "acme", }\n  ]\n}\n', 'lyss.json'));
    expect(problems[0]).toMatch(/^lyss\.json: line 3, column \d+: /);
  });

  it('rejects duplicate YAML keys', () => {
    expect(problemsOf(() => parseConfigText('tenants: []\ntenants: []\n', 'x.yml'))[0]).toMatch(/line 2, column 1: .*unique/i);
  });

  it('reports an unreadable or empty file', async () => {
    await expect(loadConfigFile('/nonexistent/lyss.yaml')).rejects.toThrow(/cannot read config file.*nonexistent/);
    const dir = await mkdtemp(path.join(tmpdir(), 'lyss-config-'));
    await writeFile(path.join(dir, 'empty.yaml'), '# nothing\n');
    await expect(loadConfigFile(path.join(dir, 'empty.yaml'))).rejects.toThrow(/the file is empty/);
  });

  it('rejects unknown keys at every level, naming the entry', () => {
    expect(problemsOf(() => validateConfig({ tenants: [], tennants: [] }))).toEqual(['tennants: unknown key']);
    const problems = problemsOf(() =>
      validateConfig(minimal({ channels: [channel(), channel({ name: 'second', tpye: 'openai' })], settings: { store_contents: false } })),
    );
    expect(problems).toContain('tenants[0] (acme).channels[1] (second).tpye: unknown key');
    expect(problems).toContain('tenants[0] (acme).settings.store_contents: unknown key');
  });

  it('names the entry of every invalid field, and every problem at once', () => {
    const problems = problemsOf(() =>
      validateConfig(
        minimal({
          max_users: 'many',
          users: [
            { email: 'not-an-email', password: 'short', role: 'root' },
            { email: 'dev@acme.test', password: 'long enough password' },
          ],
          channels: [
            channel({ priority: 1.5, quota: -2, base_url: 'ftp://x', models: [] }),
            // The admin API's limits: adapter options are flat scalars.
            channel({ name: 'azure', config: { api_version: '2024-10-21', deployments: { 'gpt-4o': 'prod' } } }),
          ],
          tokens: [token({ key: 'lyss-short', expires_at: 'tomorrow', rate_limit: -1 })],
        }),
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'tenants[0] (acme).max_users: must be a number, got "many"',
        'tenants[0] (acme).users[0] (not-an-email).email: must be an email address',
        'tenants[0] (acme).users[0] (not-an-email).password: must be at least 12 characters',
        'tenants[0] (acme).users[0] (not-an-email).role: must be one of super_admin, tenant_admin, end_user',
        'tenants[0] (acme).users[1] (dev@acme.test).role: is required',
        'tenants[0] (acme).channels[0] (openai-main).priority: must be an integer, got 1.5',
        'tenants[0] (acme).channels[0] (openai-main).quota: must be at least -1',
        'tenants[0] (acme).channels[0] (openai-main).base_url: must be an http:// or https:// URL',
        'tenants[0] (acme).channels[0] (openai-main).models: must list at least one model',
        'tenants[0] (acme).channels[1] (azure).config.deployments: must be a string, number, boolean or null',
        'tenants[0] (acme).tokens[0] (ci).key: must be at least 32 characters',
        'tenants[0] (acme).tokens[0] (ci).expires_at: must be an ISO 8601 date-time such as 2030-01-31T00:00:00Z',
        'tenants[0] (acme).tokens[0] (ci).rate_limit: must be at least 0',
      ]),
    );
    expect(problems).toHaveLength(13);
  });

  it('never echoes a secret value into an error', () => {
    const problems = problemsOf(() =>
      validateConfig(
        minimal({
          users: [{ email: 'dev@acme.test', password: 1234567890123, role: 'end_user' }],
          tokens: [token({ key: 'lyss-secret-secret-secret-secret-secret' }), token({ name: 'other', key: 'lyss-secret-secret-secret-secret-secret' })],
        }),
      ),
    );
    expect(problems.join('\n')).not.toMatch(/1234567890123/);
    const dup = problemsOf(() =>
      validateConfig(minimal({ tokens: [token({ key: 'lyss-secret-secret-secret-secret-secret' }), token({ name: 'other', key: 'lyss-secret-secret-secret-secret-secret' })] })),
    );
    expect(dup).toEqual(['tenants[0] (acme).tokens[1] (other).key: duplicate token key (also tenants[0] (acme).tokens[0] (ci).key)']);
  });

  it('refuses a NUL character anywhere, naming where (PostgreSQL text cannot hold one)', () => {
    expect(problemsOf(() => validateConfig(minimal({ channels: [channel({ name: 'n\0x' })] })))).toEqual(['tenants[0] (acme).channels[0].name: must not contain NUL characters (\\u0000)']);
    expect(problemsOf(() => validateConfig(minimal({ channels: [channel({ model_mapping: { 'gpt\0': 'x' } })] })))).toEqual([
      'tenants[0] (acme).channels[0] (openai-main).model_mapping.gpt\0: must not contain NUL characters (\\u0000)',
    ]);
  });

  it('rejects duplicates and incoherent channel scopes', () => {
    const user = { email: 'dev@acme.test', password: 'long enough password', role: 'end_user' };
    const problems = problemsOf(() =>
      validateConfig({
        tenants: [
          {
            slug: 'acme',
            name: 'Acme',
            max_users: 1,
            users: [user, { ...user, email: 'DEV@acme.test' }],
            groups: [{ name: 'g' }, { name: 'g', members: ['a@acme.test', 'a@acme.test'] }],
            channels: [
              channel({ scope: 'group' }),
              channel({ name: 'p', scope: 'personal', group: 'g' }),
              channel({ name: 't', owner: 'dev@acme.test' }),
            ],
            tokens: [token(), token()],
          },
          { slug: 'acme', name: 'Again' },
        ],
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'tenants[1] (acme).slug: duplicate tenant slug "acme" (also tenants[0] (acme).slug)',
        'tenants[0] (acme).users: 2 users exceed max_users 1',
        'tenants[0] (acme).users[1] (dev@acme.test).email: duplicate user email "dev@acme.test" (also tenants[0] (acme).users[0] (dev@acme.test).email)',
        'tenants[0] (acme).groups[1] (g).name: duplicate group name "g" (also tenants[0] (acme).groups[0] (g).name)',
        'tenants[0] (acme).groups[1] (g).members[1]: duplicate member "a@acme.test" (also tenants[0] (acme).groups[1] (g).members[0])',
        'tenants[0] (acme).channels[0] (openai-main).group: is required for scope group',
        'tenants[0] (acme).channels[1] (p).group: only applies to scope group (scope is personal)',
        'tenants[0] (acme).channels[1] (p).owner: is required for scope personal',
        'tenants[0] (acme).channels[2] (t).owner: only applies to scope personal (scope is tenant)',
        'tenants[0] (acme).tokens[1] (ci).name: duplicate token name for dev@acme.test "ci" (also tenants[0] (acme).tokens[0] (ci).name)',
      ]),
    );
  });
});
