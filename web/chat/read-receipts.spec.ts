import { ReadReceipts } from './read-receipts';

const at = (id: string, firstName: string, lastReadSeq: number) => ({ user: { id, firstName }, lastReadSeq });

describe('ReadReceipts', () => {
  it('names the others who have read a message, not its author nor the viewer', () => {
    const receipts = new ReadReceipts('me');
    receipts.update([at('me', 'Me', 9), at('ann', 'Ann', 3), at('bob', 'Bob', 5), at('cy', 'Cy', 2)]);
    expect(receipts.seenBy(3, 'cy')).toEqual(['Ann', 'Bob']);
    expect(receipts.seenBy(4, 'me')).toEqual(['Bob']);
  });

  it('moves positions forward only', () => {
    const receipts = new ReadReceipts('me');
    expect(receipts.update([at('ann', 'Ann', 5)])).toBe(true);
    expect(receipts.update([at('ann', 'Ann', 4)])).toBe(false);
    expect(receipts.seenBy(5, 'me')).toEqual(['Ann']);
  });
});
