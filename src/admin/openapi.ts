/** The OpenAPI 3.1 document of the admin API, generated from the route definitions and their zod schemas. */
import { z } from 'zod';
import type { AdminRoute } from './route-def.js';
import { errorSchema } from './common-schemas.js';
import { pathsOf, TENANT_PREFIX } from './register.js';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(route: AdminRoute, path: string): JsonSchema[] {
  const out: JsonSchema[] = [];
  if (path.startsWith(TENANT_PREFIX)) {
    out.push({
      name: 'tenant_id',
      in: 'path',
      required: true,
      description: 'Act for this tenant. Any tenant other than your own needs super_admin; such calls are logged.',
      schema: { type: 'string', format: 'uuid' },
    });
  }
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (!schema) continue;
    for (const [name, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      out.push({ name, in: where, required: where === 'path' || !field.safeParse(undefined).success, schema: jsonSchema(field, 'input') });
    }
  }
  return out;
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

function operation(route: AdminRoute, path: string): JsonSchema {
  const roles = route.roles ? `Roles: ${route.roles.join(', ')}.` : 'No session needed.';
  const success =
    route.status === 204
      ? { description: 'Done (no content).' }
      : { description: 'Success.', ...(route.response ? { content: { 'application/json': { schema: jsonSchema(route.response, 'output') } } } : {}) };
  const responses: JsonSchema = {
    [String(route.status)]: success,
    400: errorResponse('Invalid input; `param` names the field.'),
    401: errorResponse('No valid session (or, for login, invalid credentials).'),
  };
  if (route.roles) {
    responses[403] = errorResponse('Not allowed for this role, or for another tenant.');
    responses[404] = errorResponse('No such resource in this tenant.');
    responses[409] = errorResponse('Conflicts with an existing resource.');
  }
  return {
    operationId: `${route.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
    tags: [route.tag],
    summary: route.summary,
    description: [route.description, roles].filter(Boolean).join('\n\n'),
    'x-roles': route.roles ?? [],
    security: route.roles ? [{ session: [] }] : [],
    parameters: parameters(route, path),
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } } : {}),
    responses,
  };
}

export function buildOpenApi(routes: readonly AdminRoute[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    for (const path of pathsOf(route)) {
      const full = `/api${path}`;
      paths[full] ??= {};
      paths[full][route.method] = operation(route, path);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Lyss admin API',
      version: '1',
      description:
        'Tenants, users, groups, channels, tokens, usage and conversations. Authenticate with POST /api/auth/login and send `Authorization: Bearer <access_token>`. Errors are `{"error": {"message", "type", "param", "code"}}`.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { session: { type: 'http', scheme: 'bearer', description: 'The access_token from /api/auth/login or /api/auth/refresh.' } },
      schemas: { Error: jsonSchema(errorSchema, 'output') },
    },
    paths,
  };
}
