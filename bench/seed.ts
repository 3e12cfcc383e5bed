/**
 * The realistic table the gateway is seeded with through LYSS_CONFIG (3 tenants, 50 channels on the mock's
 * origins, 1,000 tokens), and the request bodies the load cycles through: every token, each with a model its
 * tenant's channels serve. Deterministic for a given seed.
 */

export const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'deepseek-chat', 'o3-mini'] as const;

const QUESTIONS = [
  'Summarise the main trade-offs between optimistic and pessimistic locking in two sentences.',
  'Write a haiku about a load balancer.',
  'What is the capital of Australia, and why is it not Sydney?',
  'Explain the difference between throughput and latency to a new engineer.',
  'Give three tips for writing a good commit message.',
  'Translate "the gateway adds almost nothing" into French.',
  'How many bytes are in a kibibyte?',
  'List the HTTP methods that are idempotent.',
];

const SHORT_SYSTEM_PROMPT = 'You are a concise assistant.';

/** `chars` characters of numbered instructions: an application's long system prompt. */
export function longText(chars: number): string {
  const rules = [
    'Answer in the language of the question.',
    'Cite the section of the handbook an answer relies on, as [§n].',
    'Never reveal account numbers; refer to them by their last four digits.',
    'When a question is ambiguous, ask one clarifying question first.',
    'Prefer short paragraphs and plain words over jargon.',
  ];
  let text = '';
  for (let i = 1; text.length < chars; i++) text += `${i}. ${rules[i % rules.length]} `;
  return text.slice(0, chars);
}

export interface BenchToken {
  key: string;
  tenant: string;
  models: string[];
}

export interface Seed {
  /** The LYSS_CONFIG document. */
  config: { tenants: unknown[] };
  tokens: BenchToken[];
  channels: number;
}

/** A small, seeded PRNG (mulberry32): the same seed gives the same table. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hex(random: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(random() * 16).toString(16);
  return s;
}

/** a, b, …, z, aa, ab, …: tenant labels a slug accepts, for any number of tenants. */
function letters(n: number): string {
  let out = '';
  for (let i = n + 1; i > 0; i = Math.floor((i - 1) / 26)) out = String.fromCharCode(97 + ((i - 1) % 26)) + out;
  return out;
}

export function buildSeed(opts: { mockPorts: number[]; tenants?: number; channels?: number; tokens?: number; seed?: number }): Seed {
  const random = prng(opts.seed ?? 42);
  const tenantCount = opts.tenants ?? 3;
  const channelCount = opts.channels ?? 50;
  const tokenCount = opts.tokens ?? 1000;
  const tenants: Record<string, unknown>[] = [];
  const tokens: BenchToken[] = [];
  let globalChannel = 0;
  let globalToken = 0;

  for (let t = 0; t < tenantCount; t++) {
    const label = letters(t);
    const slug = `bench-${label}`;
    const users = [
      { email: `admin@${slug}.test`, password: `bench admin passphrase ${t}`, role: 'tenant_admin' },
      ...Array.from({ length: 9 }, (_, u) => ({ email: `user${u}@${slug}.test`, password: `bench user passphrase ${t}-${u}`, role: 'end_user' })),
    ];
    const members = users.slice(1, 4).map((u) => u.email);
    // Split the channels (and tokens) as evenly as the counts allow, the first tenants taking the remainder.
    const nChannels = Math.floor(channelCount / tenantCount) + (t < channelCount % tenantCount ? 1 : 0);
    const channels: Record<string, unknown>[] = [];
    for (let j = 0; j < nChannels; j++, globalChannel++) {
      const port = opts.mockPorts[globalChannel % opts.mockPorts.length]!;
      const models = [MODELS[j % MODELS.length]!, MODELS[(j + 1) % MODELS.length]!];
      if (j % 3 === 0) models.push(MODELS[(j + 3) % MODELS.length]!);
      // The last two of each tenant are visible to its research group only (when it has more than four); the
      // rest to the whole tenant.
      const groupScoped = nChannels > 4 && j >= nChannels - 2;
      channels.push({
        name: `ch-${t}-${j}`,
        type: j % 3 === 2 ? 'deepseek' : 'openai',
        base_url: `http://127.0.0.1:${port}/v1`,
        key: `sk-bench-channel-${t}-${j}-${hex(random, 24)}`,
        models,
        model_mapping: j % 4 === 0 ? { 'gpt-4o-mini': 'gpt-4o-mini-2024-07-18' } : {},
        priority: [10, 10, 10, 5, 1][j % 5]!,
        weight: 1 + Math.floor(random() * 5),
        rate_limit: j % 2 === 0 ? 0 : 50_000_000,
        quota: j % 4 === 1 ? 1_000_000_000_000 : -1,
        scope: groupScoped ? 'group' : 'tenant',
        ...(groupScoped ? { group: 'research' } : {}),
      });
    }
    // What every user of the tenant can reach: with many tenants, a tenant's few channels serve some models only.
    const served = MODELS.filter((m) => channels.some((c) => c.scope === 'tenant' && (c.models as string[]).includes(m)));
    const nTokens = Math.floor(tokenCount / tenantCount) + (t < tokenCount % tenantCount ? 1 : 0);
    const tenantTokens: Record<string, unknown>[] = [];
    for (let k = 0; k < nTokens; k++, globalToken++) {
      const key = `lyss-bench-${String(globalToken).padStart(4, '0')}-${hex(random, 32)}`;
      const restricted = globalToken % 10 === 0;
      const allowed = restricted ? [MODELS[globalToken % MODELS.length]!, MODELS[(globalToken + 2) % MODELS.length]!].filter((m) => served.includes(m)) : [];
      tenantTokens.push({
        name: `tok-${globalToken}`,
        user: users[k % users.length]!.email,
        key,
        allowed_models: allowed,
        allowed_channels: [],
        quota: globalToken % 3 === 0 ? 1_000_000_000_000 : -1,
        rate_limit: globalToken % 2 === 0 ? 0 : 1_000_000,
        expires_at: globalToken % 7 === 0 ? '2099-01-01T00:00:00Z' : null,
      });
      tokens.push({ key, tenant: slug, models: allowed.length > 0 ? allowed : served });
    }
    tenants.push({
      slug,
      name: `Bench ${label.toUpperCase()}`,
      max_users: 50,
      settings: { store_content: true },
      users,
      groups: [{ name: 'research', members }],
      channels,
      tokens: tenantTokens,
    });
  }
  return { config: { tenants }, tokens, channels: globalChannel };
}

export interface BodyOptions {
  stream: boolean;
  /** Slow chunks for the open-streams scenario (read by the bench mock from `metadata`). */
  slow?: { chunks: number; delayMs: number };
  /** A system prompt of this many characters instead of a short one (the long-prompt scenario). */
  systemPromptChars?: number;
}

/** One request per token, round-robin over the models it may use; tokens interleave tenants. */
export function requestVariants(tokens: readonly BenchToken[], opts: BodyOptions): { headers: Record<string, string>; body: string }[] {
  const order = interleave(tokens);
  const system = opts.systemPromptChars ? longText(opts.systemPromptChars) : SHORT_SYSTEM_PROMPT;
  return order.map((tok, i) => {
    const body: Record<string, unknown> = {
      model: tok.models[i % tok.models.length],
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: QUESTIONS[i % QUESTIONS.length] },
      ],
      // Half the clients cap the answer; the rest leave it to the gateway's default reservation.
      ...(i % 2 === 0 ? { max_tokens: 256 } : {}),
      ...(opts.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      ...(opts.slow ? { metadata: { bench_chunks: String(opts.slow.chunks), bench_chunk_delay_ms: String(opts.slow.delayMs) } } : {}),
    };
    return {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tok.key}` },
      body: JSON.stringify(body),
    };
  });
}

// a0 b0 c0 a1 b1 c1 ...: consecutive requests hit different tenants, as real traffic does.
function interleave(tokens: readonly BenchToken[]): BenchToken[] {
  const byTenant = new Map<string, BenchToken[]>();
  for (const t of tokens) {
    const list = byTenant.get(t.tenant);
    if (list) list.push(t);
    else byTenant.set(t.tenant, [t]);
  }
  const lists = [...byTenant.values()];
  const out: BenchToken[] = [];
  for (let i = 0; out.length < tokens.length; i++) for (const l of lists) if (i < l.length) out.push(l[i]!);
  return out;
}
