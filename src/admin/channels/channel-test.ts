/**
 * POST /channels/{id}/test: the smallest real request the upstream bills (a one-token completion to the
 * channel's first model), built with the relay's own URL rules. The answer reports status and latency
 * with a message of our own words: an upstream's raw error body is logged, never echoed.
 */
import { request } from 'undici';
import type { Channel, WireFormat } from '../../channels/channel.js';
import type { SecretBox } from '../../crypto/secrets.js';
import type { Logger } from '../../logger.js';
import { openAIUrl } from '../../relay/adapters/openai.js';
import { azureChatUrl, azureHeaders } from '../../relay/adapters/azure.js';
import { anthropicHeaders } from '../../relay/adapters/anthropic/request.js';
import { classifyTransportError, readCapped, splitUrl } from '../../relay/upstream.js';
import type { ChannelRow } from './repo.js';
import type { ChannelTestResult } from './schemas.js';

const TIMEOUT_MS = 15_000;
const ANTHROPIC_VERSION = '2023-06-01';

interface TestCall {
  url: string;
  headers: Record<string, string>;
  body: string;
}

function wireFormat(apiFormat: string): WireFormat {
  return apiFormat === 'anthropic' ? 'anthropic' : apiFormat === 'azure' ? 'azure' : 'openai';
}

/** The relay's Channel shape, for the adapters' URL builders. */
function asChannel(row: ChannelRow, apiKey: string): Channel {
  return {
    id: row.id,
    tenantId: '',
    name: row.name,
    providerName: row.typeName,
    format: wireFormat(row.apiFormat),
    baseUrl: row.baseUrl ?? row.typeBaseUrl,
    apiKey,
    priority: row.priority,
    weight: row.weight,
    status: row.status,
    quota: row.quota,
    usedQuota: row.usedQuota,
    rateLimit: row.rateLimit,
    scope: row.scope,
    ownerId: row.ownerId,
    groupId: row.groupId,
    models: new Set(row.models),
    modelMapping: row.modelMapping,
    config: row.config,
    createdAt: row.createdAt.getTime(),
  };
}

export function buildTestCall(channel: Channel, model: string): TestCall {
  const key = channel.apiKey ?? '';
  const messages = [{ role: 'user', content: 'ping' }];
  switch (channel.format) {
    case 'anthropic': {
      const { origin, path } = splitUrl(channel.baseUrl ?? 'https://api.anthropic.com', '/v1/messages');
      return { url: origin + path, headers: anthropicHeaders(key, ANTHROPIC_VERSION), body: JSON.stringify({ model, max_tokens: 1, messages }) };
    }
    case 'azure': {
      if (!channel.baseUrl) throw new Error('the channel has no base_url');
      const version = typeof channel.config.api_version === 'string' ? channel.config.api_version : undefined;
      return {
        url: azureChatUrl(channel.baseUrl, model, version, 'chat/completions'),
        headers: azureHeaders(key),
        body: JSON.stringify({ messages, max_tokens: 1 }),
      };
    }
    case 'openai': {
      const { origin, path } = openAIUrl(channel, '/chat/completions');
      return {
        url: origin + path,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages, max_tokens: 1 }),
      };
    }
  }
}

function describeStatus(status: number): string {
  if (status >= 200 && status < 300) return `The upstream answered (HTTP ${status}).`;
  if (status === 401 || status === 403) return `The upstream rejected the key (HTTP ${status}).`;
  if (status === 404) return 'The upstream does not know this model or endpoint (HTTP 404).';
  if (status === 429) return 'The upstream is rate limiting this key or it is out of credit (HTTP 429).';
  if (status >= 400 && status < 500) return `The upstream refused the test request (HTTP ${status}).`;
  return `The upstream failed (HTTP ${status}).`;
}

export async function testChannel(row: ChannelRow, secrets: SecretBox | null, logger: Logger): Promise<ChannelTestResult> {
  const firstModel = row.models[0] ?? '';
  const model = row.modelMapping[firstModel] ?? firstModel;
  let apiKey: string;
  try {
    if (!secrets) throw new Error('no LYSS_SECRET_KEY configured');
    apiKey = secrets.open(row.key);
  } catch (err) {
    logger.error('channel test: key cannot be decrypted', { channelId: row.id, err });
    return { ok: false, status: null, latency_ms: 0, model, message: 'The channel key cannot be decrypted with the configured LYSS_SECRET_KEY.' };
  }
  let call: TestCall;
  try {
    call = buildTestCall(asChannel(row, apiKey), model);
  } catch (err) {
    return { ok: false, status: null, latency_ms: 0, model, message: `The channel cannot be called: ${err instanceof Error ? err.message : String(err)}.` };
  }
  const started = performance.now();
  try {
    const res = await request(call.url, {
      method: 'POST',
      headers: call.headers,
      body: call.body,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = await readCapped(res.body as unknown as AsyncIterable<Buffer>, 16 * 1024);
    const latency = Math.round(performance.now() - started);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    if (!ok) logger.warn('channel test: upstream refused', { channelId: row.id, status: res.statusCode, body });
    return { ok, status: res.statusCode, latency_ms: latency, model, message: describeStatus(res.statusCode) };
  } catch (err) {
    const latency = Math.round(performance.now() - started);
    const failure = err instanceof Error && err.name === 'TimeoutError' ? { kind: 'timeout' as const } : classifyTransportError(err);
    logger.warn('channel test: no answer', { channelId: row.id, err });
    const message =
      failure.kind === 'timeout'
        ? `No answer from the upstream within ${TIMEOUT_MS / 1000} s.`
        : `Could not reach the upstream (${(err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.name : 'error')}).`;
    return { ok: false, status: null, latency_ms: latency, model, message };
  }
}
