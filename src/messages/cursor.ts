import { BadInputError } from '../common/errors';

/** Opaque Relay cursors over a message's seq. The prefix versions the format. */
const PREFIX = 'm1:';

export function encodeCursor(seq: number): string {
  return Buffer.from(`${PREFIX}${seq}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number {
  if (cursor.length <= 64 && /^[A-Za-z0-9_-]+$/.test(cursor)) {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const match = /^m1:(\d{1,10})$/.exec(text);
    const seq = match ? Number(match[1]) : NaN;
    if (Number.isSafeInteger(seq) && seq <= 2 ** 31 - 1) return seq;
  }
  throw new BadInputError('invalid cursor');
}
