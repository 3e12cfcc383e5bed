import { describe, it, expect } from 'vitest';
import { mapAnthropicError } from '../../../src/relay/adapters/anthropic/errors.js';
import { anthropicError, anthropicErrorStatus, type AnthropicErrorTypeFixture } from '../../helpers/anthropic-wire.js';

function map(type: AnthropicErrorTypeFixture, message = 'upstream detail: org_8f2 key sk-ant-abc') {
  return mapAnthropicError(anthropicErrorStatus(type), JSON.stringify(anthropicError(type, message)));
}

describe('mapAnthropicError', () => {
  it.each([
    // type, client status, OpenAI type, code, retryable, channelFault
    ['invalid_request_error', 400, 'invalid_request_error', 'invalid_request', false, null],
    ['authentication_error', 502, 'server_error', 'upstream_auth_failed', true, 'auth'],
    ['permission_error', 502, 'server_error', 'upstream_permission_denied', true, 'auth'],
    ['billing_error', 503, 'server_error', 'upstream_billing', true, 'billing'],
    ['not_found_error', 404, 'invalid_request_error', 'model_not_found', true, null],
    ['request_too_large', 413, 'invalid_request_error', 'request_too_large', false, null],
    ['rate_limit_error', 429, 'rate_limit_error', 'rate_limit_exceeded', true, null],
    ['api_error', 502, 'server_error', 'upstream_server_error', true, null],
    ['timeout_error', 504, 'server_error', 'upstream_timeout', true, null],
    ['overloaded_error', 503, 'server_error', 'upstream_overloaded', true, null],
  ] as const)('maps %s to status %i', (type, status, openaiType, code, retryable, channelFault) => {
    const lacks = type === 'not_found_error' ? { channelLacks: true } : {};
    expect(map(type)).toEqual({ status, type: openaiType, code, retryable, channelFault, ...lacks, message: expect.any(String) });
  });

  it('never echoes the upstream message, except what a request got wrong, without keys or account ids', () => {
    for (const type of ['authentication_error', 'permission_error', 'rate_limit_error', 'overloaded_error'] as const) {
      expect(map(type).message).not.toContain('upstream detail');
    }
    const invalid = map('invalid_request_error', 'messages.1.content: field required, an org-level rule (org-8f2a9Kq3LmN0pQ7rXy2Z1bC4, proj_Ab12Cd34Ef56Gh78, key sk-ant-abc123456)');
    expect(invalid.message).toContain('messages.1.content: field required, an org-level rule');
    expect(invalid.message).not.toContain('sk-ant');
    expect(invalid.message).not.toContain('org-8f2');
    expect(invalid.message).not.toContain('proj_Ab12');
  });

  it('recognises an empty credit balance (a 400) as a billing fault of the channel', () => {
    const out = map('invalid_request_error', 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.');
    expect(out).toMatchObject({ status: 503, code: 'upstream_billing', channelFault: 'billing', retryable: true });
  });

  it('recognises a spend limit (a 429 with details.error_code) as billing', () => {
    const body = { type: 'error', error: { type: 'rate_limit_error', message: 'limit', details: { error_code: 'enforced_spend_limit_reached' } } };
    expect(mapAnthropicError(429, JSON.stringify(body))).toMatchObject({ channelFault: 'billing' });
  });

  it('recognises a prompt over the context window', () => {
    expect(map('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum')).toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
      channelFault: null,
    });
  });

  it('falls back on the status when the body is not Anthropic JSON (a proxy or Cloudflare page)', () => {
    expect(mapAnthropicError(529, '<html>overloaded</html>')).toMatchObject({ status: 503, retryable: true });
    expect(mapAnthropicError(401, '')).toMatchObject({ channelFault: 'auth' });
    expect(mapAnthropicError(413, '<html>413 Request Entity Too Large</html>')).toMatchObject({ status: 413, retryable: false });
    expect(mapAnthropicError(500, 'oops')).toMatchObject({ status: 502, retryable: true });
    expect(mapAnthropicError(418, 'teapot')).toMatchObject({ status: 400, retryable: false });
  });
});
