/**
 * Azure OpenAI channels: the OpenAI wire format at a per-deployment URL with an `api-key` header. The model
 * (after model_mapping) is the deployment name; `config.api_version` pins the API version.
 */
import type { Channel } from '../../channels/channel.js';
import { splitUrl, type UpstreamCall } from '../upstream.js';
import { clientsMaxTokensField, openAIProtocol, type Protocol } from './protocol.js';
import { azureChatUrl, azureHeaders, isAzureFilterOnlyChunk } from './azure.js';
import type { OpenAIEndpoint } from './openai.js';

function azureCall(channel: Channel, endpoint: OpenAIEndpoint, body: Record<string, unknown>): UpstreamCall {
  if (!channel.baseUrl) throw new Error(`Azure channel ${channel.name} has no base_url (the resource endpoint)`);
  const apiVersion = typeof channel.config.api_version === 'string' ? channel.config.api_version : undefined;
  const url = azureChatUrl(channel.baseUrl, String(body.model), apiVersion, endpoint.slice(1) as 'chat/completions');
  const { origin, path } = splitUrl(url, '');
  return { origin, path, headers: { ...azureHeaders(channel.apiKey ?? ''), accept: 'application/json, text/event-stream' }, body: JSON.stringify(body) };
}

// Filter-only chunks carry prompt_filter_results and no choices; the cheap string test runs first.
const isFilterChunk = (data: string) => data.includes('"prompt_filter_results"') && isAzureFilterOnlyChunk(JSON.parse(data));

export const azureProtocol: Protocol = {
  ...openAIProtocol,
  call: azureCall,
  hold: (data, ctx) => openAIProtocol.hold(data, ctx) || isFilterChunk(data),
  maxTokensField: (_channel, body) => clientsMaxTokensField(body),
};
