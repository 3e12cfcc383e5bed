/**
 * Local token counts, for quota reservations and for upstreams that report no usage. o200k_base is the
 * encoding of current OpenAI models; other vendors' tokenizers differ by a few percent, which the
 * reservation margin absorbs (see README, "Quota").
 */
import { hash } from 'node:crypto';
import { o200k } from './o200k.js';

/**
 * The library caches the BPE merges of up to 100,000 words. Each distinct multi-token word (an id, a hash, a
 * log line's numbers) takes an entry that never leaves in a long-lived process: ~30 MB of heap kept after a
 * day of varied prompts, and evicting from a Map that size is slower than merging again. 10,000 entries count
 * a text the whole-text cache misses (a long history, one turn longer) as fast as the default does
 * (bench/tokenizer-cache.ts).
 */
o200k.setMergeCacheSize(10_000);

/** OpenAI's chat format costs a few tokens per message and per reply on top of the content. */
const PER_MESSAGE = 4;
const PER_REPLY = 3;
/** An image part's cost is unknowable before upstream sees it; this bounds a high-detail 2048px image. */
const PER_IMAGE = 1_600;

// User text may contain special-token strings like <|endoftext|>; they are plain text to us, never an error.
const PLAIN = { disallowedSpecial: new Set<string>() };

/**
 * The longest piece the tokenizer gets at once. BPE is quadratic in the length of one pre-tokenized word,
 * and one word can be a whole text (a run of one character, CJK without punctuation): 100 k such characters
 * took seconds and a megabyte minutes, all of it blocking the event loop. In pieces the cost is linear.
 */
const PIECE = 128;

/**
 * Counts of recent texts. Clients resend the system prompt, the tool schemas and the whole history on every
 * turn, so most of a chat request's text was counted moments ago; a lookup costs a hash of the string, BPE far
 * more (a 50 KB document: ~1.9 ms of BPE against ~0.05 ms of SHA-256). A short text is its own key; a long one is
 * keyed by its SHA-256, so the cache never holds it: at most ~8 MB of short texts and ~0.2 MB of digests. Two
 * maps, so a short text can never be taken for a digest. Least recently used texts leave first, so a system
 * prompt in use stays however many other texts pass through.
 */
const recentShort = new Map<string, number>();
const recentLong = new Map<string, number>();
const RECENT_ENTRIES = 2_048;
const RECENT_MAX_LENGTH = 2_048;

export function countText(text: string): number {
  if (text.length === 0) return 0;
  if (text.length <= RECENT_MAX_LENGTH) return recall(recentShort, text, text);
  // UTF-8 writes half a surrogate pair as U+FFFD: two different texts would share a digest, and whichever came
  // first would set the other's count. A broken text (only a broken client sends one) is counted afresh.
  if (!text.isWellFormed()) return countPieces(text);
  return recall(recentLong, hash('sha256', text, 'base64'), text);
}

function recall(recent: Map<string, number>, key: string, text: string): number {
  let n = recent.get(key);
  if (n !== undefined) recent.delete(key);
  else {
    n = countPieces(text);
    if (recent.size >= RECENT_ENTRIES) recent.delete(recent.keys().next().value!);
  }
  recent.set(key, n);
  return n;
}

function countPieces(text: string): number {
  if (text.length <= PIECE) return o200k.countTokens(text, PLAIN);
  let total = 0;
  for (let start = 0; start < text.length; ) {
    let end = Math.min(text.length, start + PIECE);
    if (end < text.length) {
      // Cut before a space when there is one near the end: a word takes its leading space, so ordinary text
      // counts as it would whole. Never between the halves of a surrogate pair.
      const space = lastSpace(text, end, start + PIECE / 2);
      if (space > 0) end = space;
      else if (isHighSurrogate(text.charCodeAt(end - 1))) end--;
    }
    total += o200k.countTokens(text.slice(start, end), PLAIN);
    start = end;
  }
  return total;
}

/** The index of the last space in text[from, end), or -1 (bounded: lastIndexOf would scan to the start). */
function lastSpace(text: string, end: number, from: number): number {
  for (let i = end - 1; i > from; i--) if (text.charCodeAt(i) === 32) return i;
  return -1;
}

export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Upper-bound estimate of a chat request's prompt tokens. */
export function countChatPrompt(messages: readonly unknown[], tools?: unknown): number {
  let total = PER_REPLY;
  for (const m of messages) {
    total += PER_MESSAGE;
    if (!m || typeof m !== 'object') continue;
    const msg = m as Record<string, unknown>;
    total += countMessageContent(msg);
    if (typeof msg.name === 'string') total += countText(msg.name);
    if (Array.isArray(msg.tool_calls)) total += countText(JSON.stringify(msg.tool_calls));
  }
  if (tools != null) total += countText(JSON.stringify(tools));
  return total;
}

const contentTokens = new WeakMap<object, number>();

/**
 * Tokens of one message's content, counted once per message object: the prompt estimate and the stored
 * message's token_count both need it.
 */
export function countMessageContent(message: { content?: unknown }): number {
  let n = contentTokens.get(message);
  if (n === undefined) {
    n = countContent(message.content);
    contentTokens.set(message, n);
  }
  return n;
}

function countContent(content: unknown): number {
  if (typeof content === 'string') return countText(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content) {
    if (!part || typeof part !== 'object') continue;
    const p = part as Record<string, unknown>;
    if (typeof p.text === 'string') total += countText(p.text);
    else if (p.type === 'image_url' || p.type === 'image' || p.type === 'input_audio' || p.type === 'file') total += PER_IMAGE;
  }
  return total;
}

/** Prompt tokens of a legacy completion or embeddings input: a string, strings, or token arrays. */
export function countInput(input: unknown): number {
  if (typeof input === 'string') return countText(input);
  if (!Array.isArray(input)) return 0;
  let total = 0;
  for (const item of input) {
    if (typeof item === 'string') total += countText(item);
    else if (typeof item === 'number') total += 1;
    else if (Array.isArray(item)) total += item.length;
  }
  return total;
}
