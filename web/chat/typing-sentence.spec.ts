import { typingSentence } from './typing-sentence';

describe('typingSentence', () => {
  it('says nothing when nobody types', () => {
    expect(typingSentence([])).toBe('');
  });

  it('names one or two people', () => {
    expect(typingSentence(['Bob'])).toBe('Bob is typing…');
    expect(typingSentence(['Bob', 'Carol'])).toBe('Bob and Carol are typing…');
  });

  it('counts no names past two', () => {
    expect(typingSentence(['Bob', 'Carol', 'Dan'])).toBe('Several people are typing…');
    expect(typingSentence(['Bob', 'Carol', 'Dan', 'Eve', 'Fay'])).toBe('Several people are typing…');
  });
});
