/**
 * What the relay suites share: an SDK client that never retries (a retry would hide what the gateway
 * answered), OpenAI error-shape assertions, raw SSE reading, and database reads inside the tenant's RLS scope.
 */
import { expect } from 'vitest';
import OpenAI from 'openai';
import { and, asc, eq } from 'drizzle-orm';
import { withTenant } from '../../src/db/tenant.js';
import type { Db } from '../../src/db/client.js';
import { chatConversations, chatMessages, providerChannels, providerTokens, tenantOrganizations } from '../../src/db/schema/index.js';
import { TEST_TOKEN, type TestGateway } from './gateway.js';

export function sdk(gw: TestGateway, apiKey = TEST_TOKEN, opts: { timeout?: number; defaultHeaders?: Record<string, string> } = {}): OpenAI {
  return new OpenAI({ baseURL: gw.baseURL, apiKey, maxRetries: 0, timeout: opts.timeout ?? 20_000, defaultHeaders: opts.defaultHeaders });
}

export const db = (gw: TestGateway): Db => gw.deps.database.db;

export async function tenantIdOf(gw: TestGateway, slug = 'acme'): Promise<string> {
  const [row] = await db(gw).select({ id: tenantOrganizations.id }).from(tenantOrganizations).where(eq(tenantOrganizations.slug, slug));
  if (!row) throw new Error(`no tenant ${slug}`);
  return row.id;
}

export function inTenant<T>(gw: TestGateway, tenantId: string, work: (tx: Db) => Promise<T>): Promise<T> {
  return withTenant(db(gw), tenantId, work);
}

export async function tokenRow(gw: TestGateway, tenantId: string, name: string) {
  const [row] = await inTenant(gw, tenantId, (tx) => tx.select().from(providerTokens).where(eq(providerTokens.name, name)));
  if (!row) throw new Error(`no token ${name}`);
  return row;
}

export async function channelRow(gw: TestGateway, tenantId: string, name: string) {
  const [row] = await inTenant(gw, tenantId, (tx) => tx.select().from(providerChannels).where(eq(providerChannels.name, name)));
  if (!row) throw new Error(`no channel ${name}`);
  return row;
}

export async function conversationRow(gw: TestGateway, tenantId: string, id: string) {
  const [row] = await inTenant(gw, tenantId, (tx) => tx.select().from(chatConversations).where(eq(chatConversations.id, id)));
  return row ?? null;
}

export async function messageRows(gw: TestGateway, tenantId: string, conversationId: string) {
  return inTenant(gw, tenantId, (tx) =>
    tx.select().from(chatMessages).where(and(eq(chatMessages.conversationId, conversationId))).orderBy(asc(chatMessages.createdAt)),
  );
}

export interface ErrorExpectation {
  status: number;
  type: string;
  code: string;
  param?: string | null;
}

/** Awaits a rejected SDK call and checks OpenAI's error shape, status, type and code. */
export async function expectApiError(call: Promise<unknown>, want: ErrorExpectation): Promise<InstanceType<typeof OpenAI.APIError>> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeInstanceOf(OpenAI.APIError);
  const e = err as InstanceType<typeof OpenAI.APIError>;
  expect(e.status).toBe(want.status);
  expectErrorShape(e.error, want);
  expect(e.headers?.get('x-request-id')).toBeTruthy();
  return e;
}

/** `{error: {message, type, param, code}}`'s inner object, exactly those four keys. */
export function expectErrorShape(error: unknown, want: Omit<ErrorExpectation, 'status'>): void {
  expect(error).toBeTypeOf('object');
  const e = error as Record<string, unknown>;
  expect(Object.keys(e).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(e.message).toBeTypeOf('string');
  expect((e.message as string).length).toBeGreaterThan(0);
  expect(e.type).toBe(want.type);
  expect(e.code).toBe(want.code);
  if (want.param !== undefined) expect(e.param).toBe(want.param);
}

/** A raw HTTP call to the gateway (for what the SDK would hide: malformed bodies, raw SSE). */
export function raw(gw: TestGateway, path: string, init: { method?: string; body?: string | ReadableStream<Uint8Array>; token?: string | null; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers };
  const token = init.token === undefined ? TEST_TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${gw.url}${path}`, {
    method: init.method ?? 'POST',
    headers,
    body: init.body,
    signal: init.signal,
    ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
}

/** Every `data:` payload of an SSE body, in order. */
export function sseData(text: string): string[] {
  return text
    .split(/\r?\n\r?\n/)
    .map((block) =>
      block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n'),
    )
    .filter((d) => d.length > 0);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `n` calls at once and splits the outcomes. */
export async function concurrently<T>(n: number, call: (i: number) => Promise<T>): Promise<{ ok: T[]; failed: unknown[] }> {
  const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) => call(i)));
  return {
    ok: settled.filter((s): s is PromiseFulfilledResult<Awaited<T>> => s.status === 'fulfilled').map((s) => s.value),
    failed: settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason),
  };
}
