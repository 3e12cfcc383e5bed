import { describe, it, expect } from 'vitest';
import {
  AZURE_DEFAULT_API_VERSION,
  azureChatUrl,
  azureHeaders,
  isAzureFilterOnlyChunk,
  stripAzureFilterFields,
} from '../../../src/relay/adapters/azure.js';

describe('azureChatUrl', () => {
  it('builds the deployment URL with the given api-version', () => {
    expect(azureChatUrl('https://acme.openai.azure.com', 'gpt4o-prod', '2024-06-01', 'chat/completions')).toBe(
      'https://acme.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01',
    );
  });

  it('defaults to the last GA api-version and accepts trailing slashes or /openai on the base', () => {
    expect(AZURE_DEFAULT_API_VERSION).toBe('2024-10-21');
    for (const base of ['https://acme.openai.azure.com/', 'https://acme.openai.azure.com/openai/', 'https://acme.openai.azure.com/openai']) {
      expect(azureChatUrl(base, 'emb', undefined, 'embeddings')).toBe(
        'https://acme.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-10-21',
      );
    }
    expect(azureChatUrl('https://x.azure.com', 'd', '', 'completions')).toContain('api-version=2024-10-21');
  });

  it('encodes the deployment name', () => {
    expect(azureChatUrl('https://x.azure.com', 'my model/1', '2024-10-21', 'chat/completions')).toContain('/deployments/my%20model%2F1/');
  });
});

describe('azureHeaders', () => {
  it('authenticates with api-key, not a bearer token', () => {
    expect(azureHeaders('az-key')).toEqual({ 'api-key': 'az-key', 'content-type': 'application/json' });
  });
});

describe('isAzureFilterOnlyChunk', () => {
  const filterChunk = {
    choices: [],
    created: 0,
    id: '',
    model: '',
    object: '',
    prompt_filter_results: [
      { prompt_index: 0, content_filter_results: { hate: { filtered: false, severity: 'safe' }, self_harm: { filtered: false, severity: 'safe' } } },
    ],
  };

  it('is true for the leading prompt_filter_results chunk', () => {
    expect(isAzureFilterOnlyChunk(filterChunk)).toBe(true);
    expect(isAzureFilterOnlyChunk({ ...filterChunk, usage: null })).toBe(true);
  });

  it('is false for the usage chunk and for content chunks', () => {
    expect(isAzureFilterOnlyChunk({ id: 'c', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })).toBe(false);
    expect(isAzureFilterOnlyChunk({ ...filterChunk, usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 } })).toBe(false);
    expect(isAzureFilterOnlyChunk({ id: 'c', choices: [{ index: 0, delta: { content: 'hi' }, content_filter_results: {} }] })).toBe(false);
    expect(isAzureFilterOnlyChunk(null)).toBe(false);
  });
});

describe('stripAzureFilterFields', () => {
  it('removes prompt_filter_results and per-choice content_filter_results, leaving the rest intact', () => {
    const response = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          finish_reason: 'stop',
          message: { role: 'assistant', content: 'Hi' },
          content_filter_results: { hate: { filtered: false, severity: 'safe' } },
        },
      ],
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    };
    const out = stripAzureFilterFields(response);
    expect(out).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Hi' } }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
    // The input is not mutated.
    expect(response).toHaveProperty('prompt_filter_results');
    expect(response.choices[0]).toHaveProperty('content_filter_results');
  });

  it('passes non-objects through', () => {
    expect(stripAzureFilterFields('x')).toBe('x');
    expect(stripAzureFilterFields(null)).toBeNull();
  });
});
