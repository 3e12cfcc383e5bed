/** Azure OpenAI: deployment URLs, the api-key header, and dropping Azure's content-filter extras. */

/**
 * The last dated GA version of the Azure OpenAI data-plane inference API (learn.microsoft.com,
 * azure/ai-services/openai/reference: "Latest GA release 2024-10-21"). Later GA surface is the
 * versionless /openai/v1 API, which uses a different URL shape; a channel can still pin any version
 * through `config.api_version`.
 */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

export type AzurePath = 'chat/completions' | 'completions' | 'embeddings';

/**
 * `${base}/openai/deployments/${deployment}/${path}?api-version=...`. A base URL configured with a
 * trailing slash or already ending in /openai is accepted, since both are common copy-pastes from
 * the Azure portal.
 */
export function azureChatUrl(baseUrl: string, deployment: string, apiVersion: string | undefined, path: AzurePath): string {
  const base = baseUrl.replace(/\/+$/, '').replace(/\/openai$/i, '');
  const version = apiVersion && apiVersion.trim() !== '' ? apiVersion.trim() : AZURE_DEFAULT_API_VERSION;
  return `${base}/openai/deployments/${encodeURIComponent(deployment)}/${path}?api-version=${encodeURIComponent(version)}`;
}

export function azureHeaders(apiKey: string): Record<string, string> {
  return { 'api-key': apiKey, 'content-type': 'application/json' };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Azure opens a stream with a chunk that has `choices: []` and only `prompt_filter_results` (and
 * empty id/model). OpenAI clients that read choices[0] choke on it, and it is not the usage chunk
 * (which also has `choices: []`, but carries `usage`), so the relay drops it.
 */
export function isAzureFilterOnlyChunk(chunk: unknown): boolean {
  return (
    isRecord(chunk) &&
    Array.isArray(chunk.choices) &&
    chunk.choices.length === 0 &&
    'prompt_filter_results' in chunk &&
    (chunk.usage === undefined || chunk.usage === null)
  );
}

const TOP_LEVEL_FILTER_FIELDS = ['prompt_filter_results', 'prompt_annotations'];
const CHOICE_FILTER_FIELDS = ['content_filter_results', 'content_filter_offsets'];

/**
 * Returns a copy of a chat.completion (or chunk) without Azure's filter annotations: top-level
 * `prompt_filter_results` (`prompt_annotations` in older API versions) and per-choice
 * `content_filter_results` / `content_filter_offsets`. Not an OpenAI field; some strict clients reject it.
 */
export function stripAzureFilterFields<T>(obj: T): T {
  if (!isRecord(obj)) return obj;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (!TOP_LEVEL_FILTER_FIELDS.includes(key)) out[key] = value;
  }
  if (Array.isArray(obj.choices)) {
    out.choices = obj.choices.map((choice: unknown) => {
      if (!isRecord(choice)) return choice;
      const c: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(choice)) {
        if (!CHOICE_FILTER_FIELDS.includes(key)) c[key] = value;
      }
      return c;
    });
  }
  return out as T;
}
