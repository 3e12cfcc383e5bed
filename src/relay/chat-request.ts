/**
 * The fields of an OpenAI chat request the gateway reads, validated; everything else passes through untouched.
 */
import { z } from 'zod';
import { GatewayError } from '../errors.js';

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(z.unknown()), z.null()]).optional(),
  // Clients replaying an assistant turn often send these as null.
  tool_calls: z.array(z.unknown()).nullish(),
  tool_call_id: z.string().nullish(),
});

export const chatRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  tools: z.array(z.unknown()).nullish(),
  /** Stored on the conversation (the upstream checks its range). */
  temperature: z.number().nullish(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = z.infer<typeof message>;

export const completionRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  prompt: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  best_of: z.number().int().min(1).max(128).nullish(),
});

export const embeddingRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number()).min(1), z.array(z.array(z.number())).min(1)]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
});

/** POST /v1/responses: what the gateway reads of it; `input` items are read leniently (responses.ts). */
export const responsesRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.unknown())]).nullish(),
  instructions: z.string().nullish(),
  stream: z.boolean().nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  tools: z.array(z.unknown()).nullish(),
  temperature: z.number().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  store: z.boolean().nullish(),
  background: z.boolean().nullish(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

/**
 * Validates `body`; the first problem becomes a 400 naming its parameter, with OpenAI's codes
 * (`missing_required_parameter`, `invalid_type`, `invalid_value`).
 */
export function parseRequest<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.');
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
  const missing = (issue.code === 'invalid_type' || issue.code === 'invalid_union') && valueAt(body, issue.path) === undefined;
  if (missing) throw new GatewayError('invalid_request_error', `Missing required parameter: '${param}'.`, { param, code: 'missing_required_parameter' });
  // A union (a string or a list, say) refuses a value of the right kind for what it holds (an empty list): its
  // branch that took the type says what is wrong with the value.
  const valueIssue = issue.code === 'invalid_union' ? issue.errors.find((branch) => branch.every((i) => i.code !== 'invalid_type'))?.[0] : undefined;
  const code = valueIssue || (issue.code !== 'invalid_type' && issue.code !== 'invalid_union') ? 'invalid_value' : 'invalid_type';
  const message = (valueIssue ?? issue).message;
  throw new GatewayError('invalid_request_error', `Invalid ${code === 'invalid_type' ? 'type' : 'value'} for '${param}': ${message}.`, { param, code });
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}
