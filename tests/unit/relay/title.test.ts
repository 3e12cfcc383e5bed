import { describe, expect, it } from 'vitest';
import { titleFrom } from '../../../src/relay/conversations.js';

/** The title as the whole first user message gives it: whitespace collapsed, cut at 100 characters. */
function wholeTextTitle(text: string): string {
  const collapsed = text.replace(/\s+/g, ' ').trim();
  if (!collapsed) return 'New conversation';
  if (collapsed.length <= 100) return collapsed;
  return `${Array.from(collapsed.slice(0, 99)).filter((c) => c.length === 2 || !/[\ud800-\udbff]/.test(c)).join('')}…`;
}

describe('titleFrom', () => {
  const word = (i: number) => `w${i}`;
  const cases: Record<string, string> = {
    short: '  Hello\n\tworld  ',
    empty: '   \n ',
    'a pasted document': Array.from({ length: 50_000 }, (_, i) => word(i)).join(' \n '),
    'exactly a title': 'x'.repeat(100),
    'a title and one more character': 'x'.repeat(101),
    'a prefix that is mostly whitespace': ' '.repeat(390) + 'start ' + 'y'.repeat(300),
    'a prefix that collapses to exactly a title, more text after': 'x'.repeat(100) + ' '.repeat(300) + 'more',
    'whitespace runs across the prefix end': 'z'.repeat(98) + ' '.repeat(400) + 'tail',
    'an emoji across the cut': 'e'.repeat(97) + '😀😀 and more',
    'an emoji just before the cut': 'e'.repeat(96) + '😀😀 and more',
  };
  it('never ends in half an emoji', () => {
    const title = titleFrom([{ role: 'user', content: 'e'.repeat(98) + '😀 more' }]);
    expect(title).toBe(`${'e'.repeat(98)}…`);
    expect(title.isWellFormed()).toBe(true);
  });

  for (const [name, text] of Object.entries(cases)) {
    it(`gives what the whole text gives: ${name}`, () => {
      expect(titleFrom([{ role: 'system', content: 'sys' }, { role: 'user', content: text }])).toBe(wholeTextTitle(text));
    });
  }
});
