import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { basicConfig, startGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { startMockUpstream, type MockUpstream } from '../../helpers/mock-upstream.js';

let upstream: MockUpstream;
let gw: TestGateway;
beforeAll(async () => {
  upstream = await startMockUpstream();
  gw = await startGateway({ config: basicConfig(upstream.url) });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('smoke', () => {
  it('chat non-stream and stream', async () => {
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_TOKEN });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.choices[0]!.message.content).toBe('Hello from the mock upstream.');
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const ch of s) text += ch.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello from the mock upstream.');
    console.log(upstream.requests.map((r) => r.path));
  });
});
