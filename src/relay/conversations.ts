/**
 * Which conversation a request belongs to. `X-Lyss-Conversation-Id` names one of the token user's
 * conversations (else 404); without it the request starts a new one. Ids found in the database are cached
 * per user. One this instance created counts as known before its row exists: while its first answer runs
 * (the id goes out with the answer's first byte), then while its usage record waits to be written (the queue
 * is asked before the database, since a record leaves it only once its row is committed).
 */
import { timeOrderedId } from '../time-ordered-id.js';
import { isHighSurrogate } from './tokenize.js';
import { and, eq, ne } from 'drizzle-orm';
import { GatewayError } from '../errors.js';
import type { Db } from '../db/client.js';
import { withTenant } from '../db/tenant.js';
import { chatConversations } from '../db/schema/index.js';
import type { Principal } from '../tokens/principal.js';
import type { ChatMessage } from './chat-request.js';
import type { Invalidatable } from '../cache/invalidation.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_KNOWN = 100_000;

export interface ConversationRef {
  id: string;
  isNew: boolean;
  /**
   * Its row was in the database when the request began (not a new id, nor one whose first record is still
   * running or queued): the request's record may update the row but never create it again, so a conversation
   * deleted meanwhile stays deleted.
   */
  stored: boolean;
}

export interface ConversationCache extends Invalidatable {
  resolve(principal: Principal, header: string | undefined): Promise<ConversationRef>;
  /** The request that resolved `ref` is over: its usage record is queued (the queue vouches for a new id from now on), or it failed. */
  ended(principal: Principal, ref: ConversationRef): void;
}

/**
 * `isQueued(userId, conversationId)`: a usage record of that conversation is waiting to be written. Asking the
 * queue instead of remembering every id created keeps a long-lived entry per request off the heap.
 */
export function createConversationCache(db: Db, isQueued: (userId: string, conversationId: string) => boolean): ConversationCache {
  // `${userId}:${conversationId}`
  const known = new Set<string>();
  // Created by a request still running.
  const running = new Set<string>();
  const add = (set: Set<string>, key: string) => {
    if (set.size >= MAX_KNOWN) set.clear();
    set.add(key);
  };
  return {
    async resolve(principal, header) {
      if (header === undefined || header === '') {
        // Time-ordered (UUIDv7): new conversations land at the end of chat_conversations' indexes and of the
        // messages' conversation index, instead of on random pages that outgrow the cache as the table grows.
        const id = timeOrderedId();
        add(running, `${principal.userId}:${id}`);
        return { id, isNew: true, stored: false };
      }
      const id = header.toLowerCase();
      const key = `${principal.userId}:${id}`;
      if (known.has(key)) return { id, isNew: false, stored: true };
      if (running.has(key) || isQueued(principal.userId, id)) return { id, isNew: false, stored: false };
      const notFound = new GatewayError('conversation_not_found', `No conversation found with id '${header}'.`, { param: 'X-Lyss-Conversation-Id' });
      if (!UUID.test(header)) throw notFound;
      const [row] = await withTenant(db, principal.tenantId, (tx) =>
        tx
          .select({ id: chatConversations.id })
          .from(chatConversations)
          .where(and(eq(chatConversations.id, header), eq(chatConversations.userId, principal.userId), ne(chatConversations.status, 'deleted'))),
      );
      if (!row) throw notFound;
      add(known, key);
      return { id: row.id, isNew: false, stored: true };
    },
    ended(principal, ref) {
      if (ref.isNew) running.delete(`${principal.userId}:${ref.id}`);
    },
    // Deleting or archiving a conversation goes through the admin API, which notifies the tenant.
    dropTenant() {
      known.clear();
    },
    dropAll() {
      known.clear();
    },
  };
}

/** Plain text of an OpenAI message content (string, or the text parts of an array). */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
    .filter(Boolean)
    .join('\n');
}

/** The messages this request adds: those after the last assistant turn (the client resends the history). */
export function newMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  let last = -1;
  messages.forEach((m, i) => {
    if (m.role === 'assistant') last = i;
  });
  return messages.slice(last + 1).filter((m) => m.role === 'user' || m.role === 'tool');
}

const TITLE_LENGTH = 100;

/** The first user message's first 100 characters, its whitespace collapsed. */
export function titleFrom(messages: readonly ChatMessage[]): string {
  const first = messages.find((m) => m.role === 'user');
  const text = first ? textOf(first.content) : '';
  // Collapsing a prefix, not a whole pasted document: a title only needs its beginning. A prefix that is
  // mostly whitespace may collapse to no more than a title; then the whole text decides.
  let title = collapseWhitespace(text.slice(0, 4 * TITLE_LENGTH));
  if (title.length <= TITLE_LENGTH && text.length > 4 * TITLE_LENGTH) title = collapseWhitespace(text);
  if (!title) return 'New conversation';
  if (title.length <= TITLE_LENGTH) return title;
  // Never between the halves of a surrogate pair (an emoji): half of one is not text.
  const end = isHighSurrogate(title.charCodeAt(TITLE_LENGTH - 2)) ? TITLE_LENGTH - 2 : TITLE_LENGTH - 1;
  return `${title.slice(0, end)}…`;
}

const collapseWhitespace = (text: string): string => text.replace(/\s+/g, ' ').trim();

export function systemPromptOf(messages: readonly ChatMessage[]): string | null {
  const system = messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOf(m.content));
  return system.length ? system.join('\n') : null;
}
