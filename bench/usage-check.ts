/**
 * Did every request the gateway served land in PostgreSQL? Read after the gateway exited (SIGTERM flushes
 * its usage queue), as the `postgres` superuser, whom Row Level Security does not restrict. On the embedded
 * fallback the PGlite folder is opened directly instead.
 */
import postgres from 'postgres';

export interface UsageRows {
  conversations: number;
  /** Sum of chat_conversations.message_count. */
  messagesCounted: number;
  messageRows: number;
  assistantRows: number;
  tokenUsed: number;
  channelUsed: number;
}

export interface UsageCheck {
  served: number;
  clientUsage: number;
  messagesPerRequest: number;
  rows: UsageRows;
  /** Served requests with no row (negative: rows without a served request). */
  lostRows: number;
  pass: boolean;
  problems: string[];
}

const QUERY = `select
  (select count(*) from chat_conversations)::bigint as conversations,
  (select coalesce(sum(message_count), 0) from chat_conversations)::bigint as messages_counted,
  (select count(*) from chat_messages)::bigint as message_rows,
  (select count(*) from chat_messages where role = 'assistant')::bigint as assistant_rows,
  (select coalesce(sum(used_quota), 0) from provider_tokens)::bigint as token_used,
  (select coalesce(sum(used_quota), 0) from provider_channels)::bigint as channel_used`;

type Row = Record<'conversations' | 'messages_counted' | 'message_rows' | 'assistant_rows' | 'token_used' | 'channel_used', string | number>;

function toRows(r: Row): UsageRows {
  return {
    conversations: Number(r.conversations),
    messagesCounted: Number(r.messages_counted),
    messageRows: Number(r.message_rows),
    assistantRows: Number(r.assistant_rows),
    tokenUsed: Number(r.token_used),
    channelUsed: Number(r.channel_used),
  };
}

export async function readUsageRows(target: { databaseUrl: string } | { pgliteDir: string }): Promise<UsageRows> {
  if ('databaseUrl' in target) {
    const sql = postgres(target.databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
    try {
      const [row] = await sql.unsafe<Row[]>(QUERY);
      return toRows(row!);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(target.pgliteDir);
  try {
    const res = await db.query<Row>(QUERY);
    return toRows(res.rows[0]!);
  } finally {
    await db.close();
  }
}

/** Each request is its own conversation (no X-Lyss-Conversation-Id) of `messagesPerRequest` messages. */
export function compareUsage(rows: UsageRows, served: number, clientUsage: number, messagesPerRequest: number): UsageCheck {
  const problems: string[] = [];
  const expect = (what: string, got: number, want: number) => {
    if (got !== want) problems.push(`${what}: ${got} in PostgreSQL, expected ${want}`);
  };
  expect('chat_conversations rows', rows.conversations, served);
  expect('assistant chat_messages rows', rows.assistantRows, served);
  expect('chat_messages rows', rows.messageRows, served * messagesPerRequest);
  expect('sum of chat_conversations.message_count', rows.messagesCounted, served * messagesPerRequest);
  expect('sum of provider_tokens.used_quota', rows.tokenUsed, clientUsage);
  expect('sum of provider_channels.used_quota', rows.channelUsed, clientUsage);
  return { served, clientUsage, messagesPerRequest, rows, lostRows: served - rows.assistantRows, pass: problems.length === 0, problems };
}
