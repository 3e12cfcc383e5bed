import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allAdminRoutes } from '../../../src/admin/routes.js';
import { pathsOf } from '../../../src/admin/register.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { client, expectError, type Client } from './helpers.js';

let gw: TestGateway;
let api: Client;
beforeAll(async () => {
  gw = await startGateway();
  api = client(gw);
});
afterAll(async () => {
  await gw?.close();
});

describe('OpenAPI and docs', () => {
  it('documents every route, from the same zod schemas that validate it', async () => {
    const r = await api.call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc.openapi).toBe('3.1.0');
    for (const route of allAdminRoutes) {
      for (const path of pathsOf(route)) {
        const op = doc.paths[`/api${path}`]?.[route.method];
        expect(op, `${route.method} ${path}`).toBeDefined();
        expect(op.security).toEqual(route.roles ? [{ session: [] }] : []);
        expect(op.responses[String(route.status)]).toBeDefined();
      }
    }
    const create = doc.paths['/api/channels'].post;
    const body = create.requestBody.content['application/json'].schema;
    expect(body.additionalProperties).toBe(false);
    expect(body.required).toEqual(expect.arrayContaining(['name', 'type', 'key', 'models']));
    expect(body.properties.name).toMatchObject({ type: 'string', maxLength: 100 });
    const response = create.responses['201'].content['application/json'].schema;
    expect(response.properties).toHaveProperty('key_masked');
    expect(response.properties).not.toHaveProperty('key');
    const list = doc.paths['/api/tokens'].get.parameters.map((p: { name: string }) => p.name);
    expect(list).toEqual(expect.arrayContaining(['page', 'per_page', 'user_id', 'status']));
    const cross = doc.paths['/api/tenants/{tenant_id}/tokens/{id}'].patch.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`);
    expect(cross).toEqual(['path:tenant_id', 'path:id']);
    expect(doc.components.securitySchemes.session).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('serves a docs page', async () => {
    const res = await fetch(`${gw.url}/api/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain('openapi.json');
  });

  it('unknown admin paths are a JSON 404', async () => {
    expectError(await api.call('GET', '/nothing-here'), 404, 'not_found');
  });
});
