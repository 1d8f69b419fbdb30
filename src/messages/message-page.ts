import { BadInputError } from '../common/errors';
import { decodeCursor } from './cursor';
import { MessagesArgs } from './dto/messages.args';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** A validated page request: keyset bounds on seq and a direction. */
export interface PageRequest {
  direction: 'forward' | 'backward';
  size: number;
  /** exclusive lower bound on seq */
  afterSeq?: number;
  /** exclusive upper bound on seq */
  beforeSeq?: number;
}

/**
 * Relay arguments to a keyset query: first/after page forward from the oldest, last/before backward from
 * the newest; with no size, 20; neither first nor last pages back from the newest.
 */
export function toPageRequest(args: MessagesArgs): PageRequest {
  const { first, last } = args;
  if (first != null && last != null) throw new BadInputError('first and last cannot be combined');
  for (const [name, value] of [
    ['first', first],
    ['last', last],
  ] as const) {
    if (value != null && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw new BadInputError(`${name} must be between 0 and ${MAX_PAGE_SIZE}`);
    }
  }
  const afterSeq = args.after != null ? decodeCursor(args.after) : undefined;
  const beforeSeq = args.before != null ? decodeCursor(args.before) : undefined;
  const forward = first != null || (last == null && afterSeq !== undefined && beforeSeq === undefined);
  return {
    direction: forward ? 'forward' : 'backward',
    size: (forward ? first : last) ?? DEFAULT_PAGE_SIZE,
    afterSeq,
    beforeSeq,
  };
}
