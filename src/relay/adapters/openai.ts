/**
 * OpenAI-compatible channels (OpenAI, DeepSeek, Zhipu and any custom base URL): requests go out as they came
 * in, with the model mapped, and responses and streams come back byte for byte.
 */
import type { Channel } from '../../channels/channel.js';
import { splitUrl, type UpstreamCall } from '../upstream.js';

/** Where each provider keeps its versioned API under its base URL. */
const API_PREFIX: Record<string, string> = {
  openai: '/v1',
  deepseek: '/v1',
  zhipu: '/api/paas/v4',
};

export type OpenAIEndpoint = '/chat/completions' | '/completions' | '/embeddings' | '/responses';

/** A base URL that already ends in a version segment (`.../v1`, `.../v4`) is used as it is. */
export function openAIUrl(channel: Channel, endpoint: OpenAIEndpoint): { origin: string; path: string } {
  const base = channel.baseUrl ?? 'https://api.openai.com';
  const hasVersion = /\/v\d+[a-z]*\/?$/.test(new URL(base).pathname);
  const prefix = hasVersion ? '' : (API_PREFIX[channel.providerName] ?? '/v1');
  return splitUrl(base, `${prefix}${endpoint}`);
}

export function openAICall(channel: Channel, endpoint: OpenAIEndpoint, body: unknown): UpstreamCall {
  return {
    ...openAIUrl(channel, endpoint),
    headers: {
      authorization: `Bearer ${channel.apiKey}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify(body),
  };
}
