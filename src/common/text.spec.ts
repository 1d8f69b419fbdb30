import { checkText } from './text';

const rule = { min: 1, max: 4000 };

describe('checkText', () => {
  it('counts Unicode code points, not UTF-16 units', () => {
    expect(checkText('content', '😀'.repeat(4000), rule)).toEqual({ value: '😀'.repeat(4000) });
    expect(checkText('content', '😀'.repeat(4001), rule)).toEqual({ problem: 'content must be 1-4000 characters' });
    expect(checkText('content', 'a'.repeat(3999) + '😀', rule)).toEqual({ value: 'a'.repeat(3999) + '😀' });
    expect(checkText('name', '😀', { min: 2, max: 10 })).toEqual({ problem: 'name must be 2-10 characters' });
    expect(checkText('name', 'ab', { min: 2, max: 10 })).toEqual({ value: 'ab' });
  });

  it('trims, and refuses text with nothing visible in it', () => {
    expect(checkText('content', '  hi  ', rule)).toEqual({ value: 'hi' });
    for (const blank of ['   ', '\u200b', '\u200b\u200c\u200d\u2060\ufeff', ' \u00ad ', '\u3164', '\u2800']) {
      expect(checkText('content', blank, rule)).toHaveProperty('problem');
    }
    expect(checkText('content', '\u200bhi', rule)).toEqual({ value: '\u200bhi' });
  });

  it('refuses NUL and lone surrogates', () => {
    expect(checkText('content', 'a\u0000b', rule)).toHaveProperty('problem');
    expect(checkText('content', 'a\ud800', rule)).toHaveProperty('problem');
  });

  it('leaves passwords as they are', () => {
    expect(checkText('password', '        ', { min: 8, max: 200, trim: false })).toEqual({ value: '        ' });
  });
});
