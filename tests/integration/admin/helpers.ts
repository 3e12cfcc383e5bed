/**
 * Shared fixtures for the admin API suites: two tenants (acme, globex) with an admin and end users each,
 * a super admin in a third (root), and a small fetch client for /api.
 */
import { expect } from 'vitest';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';

export const PASSWORD = 'a long passphrase';
export const ACME_TOKEN = 'lyss-acme-0123456789abcdef0123456789abcdef';
export const GLOBEX_TOKEN = 'lyss-globex-0123456789abcdef0123456789abcd';

function tenant(slug: string, upstreamUrl: string, token: string) {
  return {
    slug,
    name: slug[0]!.toUpperCase() + slug.slice(1),
    max_users: 10,
    settings: { store_content: true },
    users: [
      { email: `admin@${slug}.test`, password: PASSWORD, role: 'tenant_admin' },
      { email: `dev@${slug}.test`, password: PASSWORD, role: 'end_user' },
      { email: `other@${slug}.test`, password: PASSWORD, role: 'end_user' },
    ],
    groups: [{ name: 'research', members: [`dev@${slug}.test`] }],
    channels: [
      {
        name: 'main',
        type: 'openai',
        base_url: upstreamUrl,
        key: `sk-${slug}-upstream-key-1234`,
        models: ['gpt-4o-mini'],
        scope: 'tenant',
        rate_limit: 100000,
      },
      {
        name: 'dev-personal',
        type: 'openai',
        base_url: upstreamUrl,
        key: `sk-${slug}-personal-key-5678`,
        models: ['gpt-4o-mini'],
        scope: 'personal',
        owner: `dev@${slug}.test`,
        rate_limit: 100000,
      },
      {
        name: 'research-group',
        type: 'openai',
        base_url: upstreamUrl,
        key: `sk-${slug}-group-key-9012`,
        models: ['gpt-4o-mini'],
        scope: 'group',
        group: 'research',
        rate_limit: 100000,
      },
    ],
    tokens: [{ name: 'ci', user: `dev@${slug}.test`, key: token, rate_limit: 100000 }],
  };
}

export function adminConfig(upstreamUrl: string) {
  return {
    tenants: [
      {
        slug: 'root',
        name: 'Root',
        users: [{ email: 'super@root.test', password: PASSWORD, role: 'super_admin' }],
      },
      tenant('acme', upstreamUrl, ACME_TOKEN),
      tenant('globex', upstreamUrl, GLOBEX_TOKEN),
    ],
  };
}

// Bodies are whatever the server sent; the assertions are what type them.
export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  /** Raw body text (for malformed JSON). */
  raw?: string;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
}

export function client(gw: TestGateway) {
  async function call<T = any>(method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse<T>> {
    const url = new URL(`${gw.url}/api${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON (docs page)
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  async function login(tenantSlug: string, email: string, password = PASSWORD) {
    const r = await call('POST', '/auth/login', { body: { tenant: tenantSlug, email, password } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as { access_token: string; refresh_token: string; session_id: string; user: { id: string; tenant_id: string } };
  }

  return { call, login };
}

export type Client = ReturnType<typeof client>;

/** Asserts the gateway's JSON error shape. */
export function expectError(r: ApiResponse, status: number, code?: string, param?: string | null): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body).toMatchObject({ error: { message: expect.any(String), type: expect.any(String) } });
  expect(Object.keys(r.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  if (code !== undefined) expect(r.body.error.code).toBe(code);
  if (param !== undefined) expect(r.body.error.param).toBe(param);
}

/** Every user, by email, with their session and ids, for one started gateway. */
export async function sessions(api: Client) {
  const who = async (tenantSlug: string, email: string) => {
    const s = await api.login(tenantSlug, email);
    return { token: s.access_token, refresh: s.refresh_token, userId: s.user.id, tenantId: s.user.tenant_id };
  };
  return {
    superAdmin: await who('root', 'super@root.test'),
    acmeAdmin: await who('acme', 'admin@acme.test'),
    acmeDev: await who('acme', 'dev@acme.test'),
    acmeOther: await who('acme', 'other@acme.test'),
    globexAdmin: await who('globex', 'admin@globex.test'),
    globexDev: await who('globex', 'dev@globex.test'),
  };
}

export type Sessions = Awaited<ReturnType<typeof sessions>>;

export interface AdminStack {
  upstream: MockUpstream;
  gw: TestGateway;
  api: Client;
  s: Sessions;
}

/** What every admin suite starts with: the mock upstream, a gateway on adminConfig, a client, every session. */
export async function startAdminStack(): Promise<AdminStack> {
  const upstream = await startMockUpstream();
  const gw = await startGateway({ config: adminConfig(upstream.url) });
  const api = client(gw);
  return { upstream, gw, api, s: await sessions(api) };
}

export async function stopAdminStack(stack: { gw?: TestGateway; upstream?: MockUpstream }): Promise<void> {
  await stack.gw?.close();
  await stack.upstream?.close();
}
