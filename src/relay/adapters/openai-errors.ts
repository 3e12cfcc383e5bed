/** An OpenAI-format upstream's error answer, judged: retry elsewhere, blame the channel, or tell the client. */
export interface UpstreamFailure {
  /** Status the client gets if this is the last word. */
  status: number;
  type: string;
  code: string;
  message: string;
  /** Another channel may succeed (5xx, 429, timeouts, and a key refused or out of money). */
  retryable: boolean;
  /** The channel's key is bad or out of money: health puts it in status 3. */
  channelFault: 'auth' | 'billing' | null;
  /**
   * This channel lacks what was asked (its account has no such model, an Azure deployment is missing): another
   * channel may have it, and this one is not unwell for it (no cooldown: it serves its other models).
   */
  channelLacks?: boolean;
  /** The request parameter the upstream blamed, passed on with its message. */
  param?: string | null;
}

/**
 * Key fragments, and the organisation and project ids providers name in their messages (the operator's
 * account: `org-` and `proj_` with a long id, so words such as "org-level" stay).
 */
const KEYLIKE = /\b(sk|lyss|key)-[A-Za-z0-9_*-]{6,}|\b(org|proj)[-_][A-Za-z0-9]{12,}/g;

/** An upstream message safe to show: no key fragments or account ids, bounded length. */
export function safeMessage(message: string): string {
  const clean = message.replace(KEYLIKE, '[redacted]');
  return clean.length > 500 ? `${clean.slice(0, 497)}...` : clean;
}

function parseError(text: string): { message?: string; type?: string; code?: string; param?: string } {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown; type?: unknown; code?: unknown; param?: unknown } | string; message?: unknown };
    const e = typeof body.error === 'object' && body.error ? body.error : {};
    const message = typeof e.message === 'string' ? e.message : typeof body.message === 'string' ? body.message : undefined;
    return {
      message,
      type: typeof e.type === 'string' ? e.type : undefined,
      code: typeof e.code === 'string' ? e.code : undefined,
      param: typeof e.param === 'string' ? e.param : undefined,
    };
  } catch {
    return {};
  }
}

const BILLING = /insufficient_quota|billing|credit|balance|payment|quota exceeded|arrears/i;

export function mapOpenAIError(status: number, text: string): UpstreamFailure {
  const e = parseError(text);
  const hint = `${e.code ?? ''} ${e.type ?? ''} ${e.message ?? ''}`;
  if (status === 401 || status === 403) {
    // The channel's key, not the client's request: another channel may serve it.
    return {
      status: 502,
      type: 'server_error',
      code: 'upstream_error',
      message: 'The upstream provider rejected the credentials of the channel serving this model.',
      retryable: true,
      channelFault: BILLING.test(hint) ? 'billing' : 'auth',
    };
  }
  if (status === 402 || (status === 429 && BILLING.test(hint))) {
    // Out of money on this key: another channel may still serve the request.
    return { status: 503, type: 'server_error', code: 'no_available_channel', message: 'The channels serving this model are out of upstream credit.', retryable: true, channelFault: 'billing' };
  }
  if (status === 429) {
    return { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded', message: 'The upstream provider is rate limiting this model. Please try again later.', retryable: true, channelFault: null };
  }
  if (status === 404) {
    return {
      status: 404,
      type: 'invalid_request_error',
      code: e.code ?? 'model_not_found',
      message: e.message ? safeMessage(e.message) : 'The model or deployment was not found upstream.',
      retryable: true,
      channelFault: null,
      channelLacks: true,
    };
  }
  if (status === 408 || status >= 500) {
    return { status: 502, type: 'server_error', code: 'upstream_error', message: `The upstream provider failed (status ${status}).`, retryable: true, channelFault: null };
  }
  return {
    status: status >= 400 && status < 500 ? status : 502,
    type: e.type && /invalid_request|not_found/.test(e.type) ? e.type : 'invalid_request_error',
    code: e.code ?? 'upstream_invalid_request',
    message: e.message ? safeMessage(e.message) : `The upstream provider refused the request (status ${status}).`,
    retryable: false,
    channelFault: null,
    param: e.param ?? null,
  };
}
