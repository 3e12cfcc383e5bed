/**
 * The fields of an OpenAI chat request the gateway reads, validated; everything else passes through untouched.
 */
import { z } from 'zod';
import { GatewayError } from '../errors.js';

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(z.unknown()), z.null()]).optional(),
  tool_calls: z.array(z.unknown()).optional(),
  tool_call_id: z.string().optional(),
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
});

export const embeddingRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number()).min(1), z.array(z.array(z.number())).min(1)]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
});

/** Validates `body`; the first problem becomes a 400 naming its parameter, as OpenAI does. */
export function parseRequest<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request_error', 'The request body must be a JSON object.');
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
  const missing = issue.code === 'invalid_type' && (body as Record<string, unknown>)[String(issue.path[0])] === undefined && issue.path.length === 1;
  const message = missing ? `Missing required parameter: '${param}'.` : `Invalid value for '${param}': ${issue.message}.`;
  throw new GatewayError('invalid_request_error', message, { param });
}
