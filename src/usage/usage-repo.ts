/**
 * Writes a batch of usage records in one call to lyss_write_usage (drizzle/0011): spend on tokens and channels,
 * conversation counters, and chat_messages rows, for every tenant of the batch in one set of statements. Sent
 * statement by statement, a batch cost five round trips per tenant in it, each waiting behind a busy event
 * loop (bench/usage-batch-tenants.ts, bench/README); run tenant by tenant inside the database (0006-0010), still
 * ~0.2 ms of PostgreSQL per tenant and batch. Rows are aggregated first so each token, channel and conversation
 * is touched once, and the batch goes as one json parameter, not jsonb, which PostgreSQL would first build as a
 * binary document (sorting every object's keys) only to read it back. The texts (system prompts, message
 * contents) go apart as a text[] (see Texts): PostgreSQL reads an array element at a third of what its json
 * parser costs a byte, and a long system prompt resent with every request was most of the batch's cost on
 * both sides (drizzle/0010).
 *
 * Every row carries its record's tenant, which the function checks against the rows it touches (0011): rows are
 * aggregated per tenant as well, so a record that names another tenant's token, channel or conversation (a bug
 * elsewhere) neither adds to it nor merges with that tenant's own records.
 *
 * A batch that fails is retried as a whole, so nothing in it may fail for a reason that retrying cannot fix:
 * text is cleaned to what PostgreSQL stores (no NUL characters, varchar lengths), and rows that point at a
 * channel or user deleted since the request are written without that link (or, for a deleted user, without
 * the conversation) instead of violating a foreign key.
 */
import { sql } from 'drizzle-orm';
import { postgresClientOf, type Db } from '../db/client.js';
import type { StoredToolCall } from '../db/schema/chat-messages.js';
import { newBatchId, type UsageRecord } from './usage-record.js';

/** What a token or channel of one tenant spent in the batch, and when it was last used: a row of the batch. */
interface Spend {
  tenant: string;
  id: string;
  cost: number;
  at: string;
}

/** Prepared on the writer's connection: one round trip a batch, where an unprepared call is described first. */
const WRITE_USAGE = 'select lyss_write_usage($1::uuid, $2::json, $3::text[])';

/** Column widths of chat_conversations and chat_messages (varchar(n) counts characters). */
const WIDTH = { title: 200, model: 100, role: 20, toolCallId: 100 } as const;
/** The largest value chat_conversations' integer columns hold: past it the batch would fail. */
const INT_MAX = 2_147_483_647;

/**
 * A number as a real column holds it (single precision), or null if it cannot: PostgreSQL refuses what a float
 * rounds to zero or infinity (1e-50, 1e39) and would fail the batch, where the float would hold 0 and nothing.
 */
function realOrNull(value: number): number | null {
  const single = Math.fround(value);
  return Number.isFinite(single) ? single : null;
}

/** Writes `records` once: a second call with the same `batchId` (a retry) changes nothing. */
export async function writeUsageBatch(db: Db, records: readonly UsageRecord[], batchId: string = newBatchId()): Promise<void> {
  const texts = new Texts();
  const conversations = conversationRows(records, texts);
  const contentsFrom = texts.next;
  const batch = {
    tokens: spendRows(records, (r) => r.tokenId),
    channels: spendRows(records, (r) => r.channelId),
    conversations,
    messages: messageRows(records, texts),
    contents_from: contentsFrom,
  };
  // `db` should be the writer's own connection (Database.usageWriter): through the pool the call landed on any
  // of ten connections, each compiling the function and planning its statements afresh (PostgreSQL ~1.9× the
  // CPU per answer). One statement is one transaction; a batch whose commit went through but whose reply was
  // lost is skipped when retried under the same id (migration 0009).
  const json = JSON.stringify(batch);
  const client = postgresClientOf(db);
  if (client) await client.unsafe(WRITE_USAGE, [batchId, json, texts.list], { prepare: true });
  else await db.execute(sql`select lyss_write_usage(${batchId}::uuid, ${json}::json, ${sql.param(texts.list)}::text[])`);
}

/**
 * The batch's texts (drizzle/0011): its distinct system prompts, then its messages' contents in the order of its
 * message rows. An application sends its system prompt, often the longest text of a request, with every call:
 * a batch carries it once rather than once per conversation.
 */
class Texts {
  readonly list: string[] = [];
  /**
   * The latest distinct prompts, as received, and their place in the list. A few, so a batch of prompts that
   * all differ costs a few comparisons each, not one per prompt before it.
   */
  private recentPrompts: { raw: string; at: number }[] = [];

  /** Where the next text goes, 1-based as PostgreSQL's arrays count. */
  get next(): number {
    return this.list.length + 1;
  }

  /** The prompt's place in the list (1-based), added unless it is there already. */
  prompt(raw: string): number {
    const seen = this.recentPrompts.find((p) => p.raw === raw);
    if (seen) return seen.at;
    this.list.push(text(raw));
    const at = this.list.length;
    this.recentPrompts.unshift({ raw, at });
    if (this.recentPrompts.length > RECENT_PROMPTS) this.recentPrompts.pop();
    return at;
  }

  content(raw: string): void {
    this.list.push(text(raw));
  }
}

const RECENT_PROMPTS = 8;

/**
 * PostgreSQL text cannot hold NUL (U+0000), in text columns or in jsonb strings, and its json parser refuses
 * half a surrogate pair (a client may send one; a cut through an emoji leaves one): the batch would fail and
 * the record lose its messages. Halves become U+FFFD, as a UTF-8 decoder would make them.
 */
function text(value: string): string {
  const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
  return clean.isWellFormed() ? clean : clean.toWellFormed();
}

/** At most `width` characters (code points, as varchar counts them), NUL-free. */
function clip(value: string, width: number): string {
  const clean = text(value);
  if (clean.length <= width) return clean;
  return Array.from(clean).slice(0, width).join('');
}

/** JSON.stringify writes NUL and half surrogate pairs as `\u` escapes, which PostgreSQL refuses as well (see text()). */
const REFUSED_ESCAPE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;

function toolCalls(calls: StoredToolCall[]): StoredToolCall[] {
  if (!REFUSED_ESCAPE.test(JSON.stringify(calls))) return calls;
  return JSON.parse(JSON.stringify(calls, (_key, value: unknown) => (typeof value === 'string' ? text(value) : value))) as StoredToolCall[];
}

/** Spend per tenant and `key` (a token or channel): a record is only ever added to its own tenant's rows. */
function spendRows(list: readonly UsageRecord[], key: (r: UsageRecord) => string): Spend[] {
  const out = new Map<string, Spend>();
  for (const r of list) {
    const id = key(r);
    const k = `${r.tenantId}:${id}`;
    const s = out.get(k);
    if (s) {
      s.cost += r.cost;
      if (r.at > s.at) s.at = r.at;
    } else out.set(k, { tenant: r.tenantId, id, cost: r.cost, at: r.at });
  }
  return [...out.values()];
}

/**
 * The messages of every record, in order, their contents to `texts`; those of a conversation that does not exist
 * are dropped in SQL.
 */
function messageRows(list: readonly UsageRecord[], texts: Texts): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const r of list) {
    if (!r.conversation) continue;
    const at = Date.parse(r.at);
    r.conversation.messages.forEach((m, i) => {
      texts.content(m.content);
      rows.push({
        tenant: r.tenantId,
        conversation_id: r.conversation!.id,
        role: clip(m.role, WIDTH.role),
        token_count: m.tokenCount,
        model_used: m.modelUsed ? clip(m.modelUsed, WIDTH.model) : null,
        response_time_ms: m.responseTimeMs ?? null,
        tool_calls: m.toolCalls ? toolCalls(m.toolCalls) : null,
        tool_call_id: m.toolCallId ? clip(m.toolCallId, WIDTH.toolCallId) : null,
        // Keeps the order of one request's messages when they share a timestamp.
        created_at: new Date(at + i).toISOString(),
      });
    });
  }
  return rows;
}

/**
 * One row per conversation and tenant: the counters of all its records in the batch, the rest from the latest;
 * its system prompt to `texts`. (One id under two tenants, which only a bug elsewhere could make, gives two
 * rows: the upsert may refuse them, and the batch then goes record by record; either way a message only reaches
 * the conversation of its own tenant, drizzle/0011.)
 */
function conversationRows(list: readonly UsageRecord[], texts: Texts): Record<string, unknown>[] {
  const merged = new Map<string, { r: UsageRecord; messages: number; tokens: number; at: string; creates: boolean }>();
  for (const r of list) {
    if (!r.conversation) continue;
    const key = `${r.tenantId}:${r.conversation.id}`;
    const m = merged.get(key);
    const tokens = r.promptTokens + r.completionTokens;
    const creates = r.conversation.existed !== true;
    if (m) {
      m.messages += r.conversation.messageCount;
      m.tokens += tokens;
      m.creates ||= creates;
      if (r.at >= m.at) {
        m.at = r.at;
        m.r = r;
      }
    } else merged.set(key, { r, messages: r.conversation.messageCount, tokens, at: r.at, creates });
  }
  return [...merged.values()].map(({ r, messages, tokens, at, creates }) => {
    const c = r.conversation!;
    return {
      id: c.id,
      tenant_id: r.tenantId,
      user_id: r.userId,
      title: clip(c.title, WIDTH.title),
      model_name: clip(r.model, WIDTH.model),
      provider_channel_id: r.channelId,
      prompt: c.systemPrompt === null ? null : texts.prompt(c.systemPrompt),
      temperature: c.temperature == null ? null : realOrNull(c.temperature),
      max_tokens: c.maxTokens == null ? null : Math.min(c.maxTokens, INT_MAX),
      message_count: messages,
      token_usage: tokens,
      at,
      // A record never recreates a row that existed when its request began (drizzle/0013).
      creates,
    };
  });
}
