/** Request input through zod: the first problem becomes a 400 whose `param` names the field. */
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { nulPath } from '../nul-text.js';

/** `models[0]`, `model_mapping.gpt-4o`: the field as a client would spell it. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `${out ? '.' : ''}${String(seg)}`;
  return out;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

export type InputPart = 'body' | 'query' | 'path';

/** Parses `raw` or throws a 400 naming the first bad field (an unknown field is named as such). */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, part: InputPart): z.output<S> {
  const nul = nulPath(raw);
  if (nul) {
    const param = fieldPath(nul);
    throw new GatewayError('invalid_request_error', `${param || `The request ${part}`}: must not contain NUL characters (\\u0000)`, { param: param || null });
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const param = fieldPath([...issue.path, issue.keys[0]!]);
    throw new GatewayError('invalid_request_error', `${param}: unknown field${part === 'body' ? '' : ` in the ${part}`}`, { param });
  }
  const param = fieldPath(issue.path);
  if (!param) throw new GatewayError('invalid_request_error', `The request ${part} is invalid: ${issue.message}`);
  const missing = valueAt(raw, issue.path) === undefined;
  const message = missing && (issue.code === 'invalid_type' || issue.code === 'invalid_value') ? 'is required' : issue.message;
  throw new GatewayError('invalid_request_error', `${param}: ${message}`, { param });
}
