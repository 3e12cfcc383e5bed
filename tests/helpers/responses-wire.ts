/**
 * OpenAI's Responses API wire format for the mock upstream: the Response object POST /v1/responses returns, and
 * the exact event sequence of its stream (platform.openai.com/docs/api-reference/responses-streaming; field names
 * from openai 6.49.0's resources/responses/responses.d.ts).
 */

export interface ResponsesFixture {
  /** Default: a fixed id in OpenAI's form. */
  id?: string;
  model: string;
  /** The assistant's text (a message item), unless `functionCalls` are given. */
  text?: string;
  functionCalls?: { name: string; arguments: string }[];
  usage: { input: number; output: number; cached?: number; reasoning?: number };
  /** `incomplete` stops at max_output_tokens, as the API does. */
  status?: 'completed' | 'incomplete';
  /** Stream only: the text deltas (default: three roughly equal pieces). */
  textChunks?: number;
}

const RESPONSE_ID = 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b';
const MESSAGE_ID = 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b';

function pieces(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / n));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function outputItems(f: ResponsesFixture): Record<string, unknown>[] {
  if (f.functionCalls) {
    return f.functionCalls.map((c, i) => ({ type: 'function_call', id: `fc_${i}abc`, call_id: `call_${i}xyz`, name: c.name, arguments: c.arguments, status: 'completed' }));
  }
  return [
    {
      type: 'message',
      id: MESSAGE_ID,
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: f.text ?? '', annotations: [], logprobs: [] }],
    },
  ];
}

/** The Response object; `inProgress` is its state in response.created (no output, no usage). */
export function responsesBody(f: ResponsesFixture, request: Record<string, unknown>, inProgress = false): Record<string, unknown> {
  const status = f.status ?? 'completed';
  return {
    id: f.id ?? RESPONSE_ID,
    store: request.store ?? true,
    object: 'response',
    created_at: 1741476542,
    status: inProgress ? 'in_progress' : status,
    background: false,
    error: null,
    incomplete_details: !inProgress && status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: f.model,
    output: inProgress ? [] : outputItems(f),
    parallel_tool_calls: true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    temperature: 1.0,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: request.tools ?? [],
    top_p: 1.0,
    truncation: 'disabled',
    usage: inProgress
      ? null
      : {
          input_tokens: f.usage.input,
          input_tokens_details: { cached_tokens: f.usage.cached ?? 0 },
          output_tokens: f.usage.output,
          output_tokens_details: { reasoning_tokens: f.usage.reasoning ?? 0 },
          total_tokens: f.usage.input + f.usage.output,
        },
    user: null,
    metadata: {},
  };
}

/** The stream's events, in wire order, each with its sequence_number. */
export function responsesEvents(f: ResponsesFixture, request: Record<string, unknown>): { event: string; data: Record<string, unknown> }[] {
  const events: { event: string; data: Record<string, unknown> }[] = [];
  const push = (type: string, fields: Record<string, unknown>) => events.push({ event: type, data: { type, sequence_number: events.length, ...fields } });
  push('response.created', { response: responsesBody(f, request, true) });
  push('response.in_progress', { response: responsesBody(f, request, true) });
  outputItems(f).forEach((item, output_index) => {
    if (item.type === 'function_call') {
      push('response.output_item.added', { output_index, item: { ...item, arguments: '', status: 'in_progress' } });
      for (const delta of pieces(String(item.arguments), 3)) push('response.function_call_arguments.delta', { item_id: item.id, output_index, delta });
      push('response.function_call_arguments.done', { item_id: item.id, output_index, arguments: item.arguments });
      push('response.output_item.done', { output_index, item });
      return;
    }
    const text = f.text ?? '';
    const part = { type: 'output_text', annotations: [], logprobs: [], text: '' };
    push('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
    push('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part });
    for (const delta of pieces(text, f.textChunks ?? 3)) {
      push('response.output_text.delta', { item_id: item.id, output_index, content_index: 0, delta, logprobs: [] });
    }
    push('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text, logprobs: [] });
    push('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part: { ...part, text } });
    push('response.output_item.done', { output_index, item });
  });
  push(f.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: responsesBody(f, request) });
  return events;
}

export function responsesSseFrame(e: { event: string; data: Record<string, unknown> }): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}
