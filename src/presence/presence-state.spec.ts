import { PresenceDiff, StoredMeta } from './presence-meta';
import { PresenceState } from './presence-state';

function meta(trackKey: string, userId: string, overrides: Partial<StoredMeta> = {}): StoredMeta {
  return {
    trackKey,
    ref: trackKey,
    refPrev: null,
    userId,
    firstName: userId,
    email: `${userId}@example.com`,
    typing: false,
    typingUntil: 0,
    onlineAt: '2026-01-01T00:00:00.000Z',
    instanceId: 'i-1',
    ...overrides,
  };
}

function diff(version: number, joins: StoredMeta[], leaves: StoredMeta[] = [], epoch = 'e1'): PresenceDiff {
  return { chatId: 'c', epoch, version, joins, leaves };
}

const refs = (state: PresenceState) =>
  state
    .list()
    .map((m) => m.ref)
    .sort();

describe('PresenceState', () => {
  it('starts from a snapshot and applies consecutive diffs', () => {
    const state = new PresenceState();
    state.reset({ epoch: 'e1', version: 3, metas: [meta('a', 'u1')] });
    expect(state.apply(diff(4, [meta('b', 'u1')]))).toBe('applied');
    expect(state.apply(diff(5, [], [meta('a', 'u1')]))).toBe('applied');
    expect(refs(state)).toEqual(['b']);
    expect(state.version).toBe(5);
  });

  it('ignores duplicates and diffs older than the snapshot', () => {
    const state = new PresenceState();
    state.reset({ epoch: 'e1', version: 3, metas: [meta('a', 'u1')] });
    expect(state.apply(diff(2, [meta('old', 'u1')]))).toBe('duplicate');
    expect(state.apply(diff(3, [meta('old', 'u1')]))).toBe('duplicate');
    expect(state.apply(diff(4, [meta('b', 'u2')]))).toBe('applied');
    expect(state.apply(diff(4, [meta('b', 'u2')]))).toBe('duplicate');
    expect(refs(state)).toEqual(['a', 'b']);
  });

  it('reports a gap for a skipped version or another epoch, without applying it', () => {
    const state = new PresenceState();
    state.reset({ epoch: 'e1', version: 1, metas: [] });
    expect(state.apply(diff(3, [meta('x', 'u1')]))).toBe('gap');
    expect(state.apply(diff(2, [meta('y', 'u1')], [], 'e2'))).toBe('gap');
    expect(state.list()).toEqual([]);
    expect(new PresenceState().apply(diff(1, []))).toBe('gap');
  });

  it('applies an update as leave of the old ref and join of the new ref under the same trackKey', () => {
    const state = new PresenceState();
    const before = meta('a', 'u1');
    state.reset({ epoch: 'e1', version: 1, metas: [before] });
    const after = meta('a', 'u1', { ref: 'a.2', refPrev: 'a', typing: true });
    expect(state.apply(diff(2, [after], [before]))).toBe('applied');
    expect(state.list()).toEqual([after]);
  });

  it('does not let a stale leave remove a newer meta', () => {
    const state = new PresenceState();
    const newer = meta('a', 'u1', { ref: 'a.5' });
    state.reset({ epoch: 'e1', version: 5, metas: [newer] });
    expect(state.apply(diff(6, [], [meta('a', 'u1', { ref: 'a' })]))).toBe('applied');
    expect(state.list()).toEqual([newer]);
  });

  it('resync: a new snapshot yields the difference as one change', () => {
    const state = new PresenceState();
    const a = meta('a', 'u1');
    const b = meta('b', 'u2');
    const b2 = meta('b', 'u2', { ref: 'b.9', refPrev: 'b', typing: true });
    const c = meta('c', 'u3');
    state.reset({ epoch: 'e1', version: 4, metas: [a, b] });
    const change = state.reset({ epoch: 'e2', version: 9, metas: [b2, c] });
    expect(change.leaves.map((m) => m.ref).sort()).toEqual(['a', 'b']);
    expect(change.joins.map((m) => m.ref).sort()).toEqual(['b.9', 'c']);
    expect(state.storeEpoch).toBe('e2');
    expect(state.apply(diff(10, [], [c], 'e2'))).toBe('applied');
    expect(refs(state)).toEqual(['b.9']);
  });

  it('keeps ids like __proto__ as ordinary keys', () => {
    const state = new PresenceState();
    state.reset({ epoch: 'e1', version: 0, metas: [] });
    state.apply(diff(1, [meta('__proto__', 'constructor')]));
    expect(state.list()).toHaveLength(1);
    expect(({} as Record<string, unknown>).ref).toBeUndefined();
  });
});
