/**
 * One admin endpoint as data: method, path, who may call it, its zod schemas and its handler. The same
 * definition registers the Hono route (register.ts) and documents it (openapi.ts).
 */
import type { z } from 'zod';
import type { Deps } from '../deps.js';
import type { Db } from '../db/client.js';
import type { UserRole } from '../db/schema/auth.js';
import type { Actor } from '../auth/actor.js';

export type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RequestInfo {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
}

export interface PublicCtx<P, Q, B> {
  deps: Deps;
  params: P;
  query: Q;
  body: B;
  request: RequestInfo;
}

export interface AuthedCtx<P, Q, B> extends PublicCtx<P, Q, B> {
  actor: Actor;
  /** The tenant this request acts for: the actor's, or (super admins, /tenants/{tenant_id}/...) another. */
  tenantId: string;
  /** Runs `work` in one transaction that sees only `tenantId`'s rows (Row Level Security). */
  tx<T>(work: (tx: Db) => Promise<T>): Promise<T>;
}

interface SpecBase<P, Q, B> {
  method: Method;
  /** OpenAPI style: `/users/{id}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  /** The success body, for the documentation. */
  response?: z.ZodType;
  status?: 200 | 201 | 204;
}

export interface AuthedSpec<P, Q, B> extends SpecBase<P, Q, B> {
  roles: readonly UserRole[];
  /** Also served as /tenants/{tenant_id}<path>, the explicit (and logged) way a super admin acts for another tenant. */
  tenantScoped?: boolean;
  handle(ctx: AuthedCtx<Out<P>, Out<Q>, Out<B>>): Promise<unknown>;
}

export interface PublicSpec<P, Q, B> extends SpecBase<P, Q, B> {
  handle(ctx: PublicCtx<Out<P>, Out<Q>, Out<B>>): Promise<unknown>;
}

export interface InvokeCtx {
  deps: Deps;
  actor: Actor | null;
  tenantId: string | null;
  params: unknown;
  query: unknown;
  body: unknown;
  request: RequestInfo;
  tx<T>(work: (tx: Db) => Promise<T>): Promise<T>;
}

/** A definition with its types erased, as the registry and the documentation see it. */
export interface AdminRoute {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  response?: z.ZodType;
  status: 200 | 201 | 204;
  /** null: no session needed. */
  roles: readonly UserRole[] | null;
  tenantScoped: boolean;
  invoke(ctx: InvokeCtx): Promise<unknown>;
}

type ObjectSchema = z.ZodObject | undefined;
type AnySchema = z.ZodType | undefined;

/** An endpoint that needs a session with one of `roles`. Inputs reach `handle` already validated. */
export function route<P extends ObjectSchema = undefined, Q extends ObjectSchema = undefined, B extends AnySchema = undefined>(
  spec: AuthedSpec<P, Q, B>,
): AdminRoute {
  const { handle, ...meta } = spec;
  return {
    ...meta,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    status: spec.status ?? 200,
    tenantScoped: spec.tenantScoped ?? false,
    invoke: (ctx) =>
      handle({ ...ctx, actor: ctx.actor!, tenantId: ctx.tenantId! } as AuthedCtx<Out<P>, Out<Q>, Out<B>>),
  };
}

export function publicRoute<P extends ObjectSchema = undefined, Q extends ObjectSchema = undefined, B extends AnySchema = undefined>(
  spec: PublicSpec<P, Q, B>,
): AdminRoute {
  const { handle, ...meta } = spec;
  return {
    ...meta,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    status: spec.status ?? 200,
    roles: null,
    tenantScoped: false,
    invoke: (ctx) => handle(ctx as PublicCtx<Out<P>, Out<Q>, Out<B>>),
  };
}
