import { BadInputError } from '../common/errors';
import { decodeCursor, encodeCursor } from './cursor';
import { toPageRequest } from './message-page';

describe('cursors', () => {
  it('round-trips a seq and is opaque', () => {
    const cursor = encodeCursor(42);
    expect(cursor).not.toContain('42');
    expect(decodeCursor(cursor)).toBe(42);
  });

  it.each([
    '',
    'abc',
    '!!!',
    encodeCursor(1) + 'x',
    Buffer.from('m1:-1').toString('base64url'),
    Buffer.from('m1:99999999999').toString('base64url'),
  ])('rejects %j as BAD_USER_INPUT', (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(BadInputError);
  });
});

describe('toPageRequest', () => {
  it('defaults to the 20 newest', () => {
    expect(toPageRequest({})).toEqual({ direction: 'backward', size: 20, afterSeq: undefined, beforeSeq: undefined });
  });

  it('pages forward with first/after and backward with last/before', () => {
    expect(toPageRequest({ first: 5, after: encodeCursor(10) })).toMatchObject({
      direction: 'forward',
      size: 5,
      afterSeq: 10,
    });
    expect(toPageRequest({ last: 5, before: encodeCursor(10) })).toMatchObject({
      direction: 'backward',
      size: 5,
      beforeSeq: 10,
    });
    expect(toPageRequest({ after: encodeCursor(3) })).toMatchObject({ direction: 'forward', size: 20, afterSeq: 3 });
  });

  it.each([{ first: 1, last: 1 }, { first: 101 }, { last: -1 }, { first: -5 }])('rejects %j', (args) => {
    expect(() => toPageRequest(args)).toThrow(BadInputError);
  });
});
