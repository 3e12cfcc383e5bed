/**
 * Anthropic error bodies -> OpenAI-shaped gateway errors, and the error a translator raises when an
 * OpenAI request cannot be expressed in Anthropic's format (or the reverse).
 *
 * Error types and statuses are those of docs.claude.com/en/api/errors plus the ErrorType union of
 * @anthropic-ai/sdk 1.14.0 (resources/shared.d.ts), which adds billing_error (402), timeout_error
 * (504) and conflict_error (409). The message returned to the client is always one of the fixed
 * strings below: an upstream body can carry account details, so the caller logs it and never echoes it.
 */

import { isRecord, parseJsonObject, str } from './guards.js';
import { safeMessage } from '../openai-errors.js';

/** A request (or content part) the target format cannot express: the relay answers 400 with it. */
export class AdapterRequestError extends Error {
  readonly status = 400;
  readonly type = 'invalid_request_error';
  readonly code = 'unsupported_content';

  constructor(
    message: string,
    /** The offending field, OpenAI style (`messages[2].content[0]`), for the error's `param`. */
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'AdapterRequestError';
  }
}

export interface MappedUpstreamError {
  /** The status the gateway answers the client with (not the upstream's). */
  status: number;
  /** OpenAI-style error type. */
  type: string;
  code: string;
  /** Our own text, except for a request upstream found invalid: then its words, key-like strings redacted. */
  message: string;
  /**
   * True when another channel may well succeed, so the relay should fail over (before any byte
   * reached the client): 408/409/429/5xx/529, and the channel's own faults (a key refused, an empty
   * balance), which the relay also marks on the channel (channelFault).
   */
  retryable: boolean;
  /** Set when the channel itself is broken; the relay marks it `status = 3` until a probe passes. */
  channelFault: 'auth' | 'billing' | null;
  /** This channel lacks the model asked for: another may have it (see UpstreamFailure). */
  channelLacks?: boolean;
}

const RULES = {
  invalid_request_error: {
    status: 400,
    type: 'invalid_request_error',
    code: 'invalid_request',
    message: 'The upstream provider rejected the request as invalid.',
    retryable: false,
    channelFault: null,
  },
  context_length_exceeded: {
    status: 400,
    type: 'invalid_request_error',
    code: 'context_length_exceeded',
    message: "The request exceeds the model's context window.",
    retryable: false,
    channelFault: null,
  },
  // 401/403 are the channel key's fault, not the client's: answering 401 would make an SDK report
  // the caller's Lyss token as invalid. 502 says "the upstream failed us" (as mapOpenAIError does).
  authentication_error: {
    status: 502,
    type: 'server_error',
    code: 'upstream_auth_failed',
    message: 'The upstream provider rejected the credentials of the channel serving this model.',
    retryable: true,
    channelFault: 'auth',
  },
  permission_error: {
    status: 502,
    type: 'server_error',
    code: 'upstream_permission_denied',
    message: 'The upstream provider denied the channel serving this model access to it.',
    retryable: true,
    channelFault: 'auth',
  },
  // Out of money on this key: another channel may still serve the request.
  billing_error: {
    status: 503,
    type: 'server_error',
    code: 'upstream_billing',
    message: 'The upstream account for this channel cannot be billed.',
    retryable: true,
    channelFault: 'billing',
  },
  not_found_error: {
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    message: 'The requested model or resource was not found upstream.',
    retryable: true,
    channelFault: null,
    channelLacks: true,
  },
  conflict_error: {
    status: 409,
    type: 'invalid_request_error',
    code: 'conflict',
    message: 'The upstream provider reported a conflict; retry the request.',
    retryable: true,
    channelFault: null,
  },
  request_too_large: {
    status: 413,
    type: 'invalid_request_error',
    code: 'request_too_large',
    message: 'The request is too large for the upstream provider.',
    retryable: false,
    channelFault: null,
  },
  rate_limit_error: {
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    message: 'The upstream provider is rate limiting requests; retry later.',
    retryable: true,
    channelFault: null,
  },
  api_error: {
    status: 502,
    type: 'server_error',
    code: 'upstream_server_error',
    message: 'The upstream provider failed to process the request.',
    retryable: true,
    channelFault: null,
  },
  timeout_error: {
    status: 504,
    type: 'server_error',
    code: 'upstream_timeout',
    message: 'The upstream provider timed out.',
    retryable: true,
    channelFault: null,
  },
  // 529 is not a standard status; clients and load balancers understand 503.
  overloaded_error: {
    status: 503,
    type: 'server_error',
    code: 'upstream_overloaded',
    message: 'The upstream provider is temporarily overloaded; retry later.',
    retryable: true,
    channelFault: null,
  },
} as const satisfies Record<string, MappedUpstreamError>;

type RuleName = keyof typeof RULES;

function isRuleName(value: string | undefined): value is RuleName {
  return value !== undefined && Object.hasOwn(RULES, value) && value !== 'context_length_exceeded';
}

function ruleForStatus(status: number | undefined): RuleName {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 408:
    case 504:
      return 'timeout_error';
    case 409:
      return 'conflict_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    default:
      return status !== undefined && status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error';
  }
}

// "Your credit balance is too low to access the Anthropic API..." arrives as a 400
// invalid_request_error; spend limits arrive as 429 rate_limit_error with details.error_code.
const BILLING_TEXT = /credit balance|billing|purchase credits|insufficient (credit|fund|balance)|spend(ing)? limit/i;
const BILLING_CODES = new Set([
  'enforced_spend_limit_reached',
  'contract_spend_limit_reached',
  'linked_organization_billing_unavailable',
  'linked_organization_spend_limit_reached',
]);
const CONTEXT_TEXT = /prompt is too long|context window|context length|maximum context/i;

/**
 * Classifies an Anthropic error object (`{type, message, details?}`, the `error` member of the body)
 * with the HTTP status it came with (undefined inside a 200 stream).
 */
export function mapAnthropicErrorObject(status: number | undefined, error: unknown): MappedUpstreamError {
  const type = isRecord(error) ? str(error.type) : undefined;
  const text = (isRecord(error) ? str(error.message) : undefined) ?? '';
  const details = isRecord(error) && isRecord(error.details) ? error.details : undefined;
  const errorCode = details ? str(details.error_code) : undefined;

  let name: RuleName = isRuleName(type) ? type : ruleForStatus(status);
  if (
    name === 'billing_error' ||
    (errorCode !== undefined && BILLING_CODES.has(errorCode)) ||
    ((name === 'invalid_request_error' || name === 'permission_error' || name === 'rate_limit_error') &&
      BILLING_TEXT.test(text))
  ) {
    name = 'billing_error';
  } else if (name === 'invalid_request_error' && CONTEXT_TEXT.test(text)) {
    name = 'context_length_exceeded';
  }
  // What the request got wrong is the client's to know ("messages.1.content: ..."), as on OpenAI channels:
  // the upstream's words, key-like strings redacted.
  if (name === 'invalid_request_error' && text) return { ...RULES[name], message: `The upstream provider rejected the request: ${safeMessage(text)}` };
  return { ...RULES[name] };
}

/** Maps an Anthropic HTTP error response (status and raw body text, JSON or not). */
export function mapAnthropicError(status: number, bodyText: string): MappedUpstreamError {
  const body = parseJsonObject(bodyText);
  return mapAnthropicErrorObject(status, body?.error);
}
