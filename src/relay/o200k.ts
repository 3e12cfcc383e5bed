/**
 * gpt-tokenizer's o200k_base encoding, built from the ranks file the package ships (data/o200k_base.tiktoken)
 * instead of its bundled ranks module. V8 parses that module, a 2.4 MB array literal, into ~19 MB of malloc'd
 * parser memory that glibc keeps for the life of the process, and holds its source (4.3 MB) and the literal's
 * boilerplate (1.6 MB) as long as the module lives; read from the data file the same ranks cost none of that
 * (~22 MB less resident memory, same load time). tests/unit/relay/o200k.test.ts checks both give the same ranks.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { GptEncoding } from 'gpt-tokenizer/GptEncoding';

const requireHere = createRequire(import.meta.url);

/**
 * The ranks as the bundled module holds them: a token is its text where its bytes are UTF-8 (and do not begin
 * with a byte-order mark, which a decoder would drop), its bytes otherwise. Each line is `<base64> <rank>`.
 */
export function readO200kRanks(): (string | number[])[] {
  const text = readFileSync(requireHere.resolve('gpt-tokenizer/data/o200k_base.tiktoken'), 'latin1');
  const ranks: (string | number[])[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    const rank = space > 0 && space < line.length - 1 ? Number(line.slice(space + 1)) : NaN;
    if (!Number.isInteger(rank) || rank < 0) throw new Error(`o200k_base ranks: bad line "${line.slice(0, 40)}"`);
    const bytes = Buffer.from(line.slice(0, space), 'base64');
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    ranks[rank] = isUtf8(bytes) && !bom ? bytes.toString('utf8') : [...bytes];
  }
  return ranks;
}

export const o200k = GptEncoding.getEncodingApi('o200k_base', readO200kRanks);
