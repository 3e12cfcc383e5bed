/**
 * One error class for everything the gateway refuses, with one table from code to HTTP status and
 * OpenAI error type. Rendered as OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
 */

const codes = {
  invalid_request_error: { status: 400, type: 'invalid_request_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  invalid_credentials: { status: 401, type: 'authentication_error' },
  invalid_session: { status: 401, type: 'authentication_error' },
  refresh_token_reused: { status: 401, type: 'authentication_error' },
  // 401 as for any key that no longer works: SDKs raise their authentication error, clients re-authenticate.
  token_expired: { status: 401, type: 'invalid_request_error' },
  model_not_allowed: { status: 403, type: 'invalid_request_error' },
  tenant_suspended: { status: 403, type: 'invalid_request_error' },
  forbidden: { status: 403, type: 'permission_error' },
  max_users_reached: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  conversation_not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  account_locked: { status: 423, type: 'authentication_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  insufficient_quota: { status: 429, type: 'insufficient_quota' },
  internal_error: { status: 500, type: 'server_error' },
  upstream_error: { status: 502, type: 'server_error' },
  no_available_channel: { status: 503, type: 'server_error' },
  service_unavailable: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof codes;

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

export interface GatewayErrorOptions {
  param?: string | null;
  retryAfterSeconds?: number;
  /** Overrides for errors relayed from an upstream, whose status, type and code we keep. */
  status?: number;
  type?: string;
  code?: string;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string;
  constructor(
    code: ErrorCode,
    message: string,
    readonly options: GatewayErrorOptions = {},
  ) {
    super(message);
    this.name = 'GatewayError';
    this.code = options.code ?? code;
    this.status = options.status ?? codes[code].status;
    this.type = options.type ?? codes[code].type;
  }

  toJSON(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.options.param ?? null, code: this.code } };
  }
}

export function statusOf(code: ErrorCode): number {
  return codes[code].status;
}

export function errorBody(code: ErrorCode, message: string, param: string | null = null): ErrorBody {
  return { error: { message, type: codes[code].type, param, code } };
}

/** How a refusal is answered: its status, OpenAI's error body and a Retry-After when it names one; null for a bug. */
export function refusalOf(err: unknown): { status: number; body: ErrorBody; retryAfter: string | null } | null {
  if (!(err instanceof GatewayError)) return null;
  const seconds = err.options.retryAfterSeconds;
  return { status: err.status, body: err.toJSON(), retryAfter: seconds === undefined ? null : String(seconds) };
}
