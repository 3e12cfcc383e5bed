/** The encoding the gateway counts with is gpt-tokenizer's own o200k_base, read from its data file. */
import { describe, expect, it } from 'vitest';
import bundledRanks from 'gpt-tokenizer/bpeRanks/o200k_base';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { o200k, readO200kRanks } from '../../../src/relay/o200k.js';

describe('o200k_base from the data file', () => {
  it('holds every rank exactly as the bundled module does (text where UTF-8, bytes otherwise)', () => {
    const ranks = readO200kRanks();
    expect(ranks.length).toBe(bundledRanks.length);
    const differing: number[] = [];
    for (let rank = 0; rank < bundledRanks.length; rank++) if (JSON.stringify(ranks[rank]) !== JSON.stringify(bundledRanks[rank])) differing.push(rank);
    expect(differing).toEqual([]);
    // Both kinds occur, the byte-order-mark tokens among the byte arrays.
    expect(ranks.filter((t) => typeof t !== 'string').length).toBeGreaterThan(0);
    expect(ranks[5574]).toEqual([0xef, 0xbb, 0xbf]);
  });

  it('counts as the bundled encoding does', () => {
    const plain = { disallowedSpecial: new Set<string>() };
    const text = '\uFEFFusing namespace std; héllo wörld 漢字かな 🚀🚀 <|endoftext|> \u0000\u00ff '.repeat(20);
    expect(o200k.countTokens(text, plain)).toBe(countTokens(text, plain));
  });
});
