import { PresenceEvent, PresenceMeta, PresenceMembers } from './presence-members';

const meta = (userId: string, ref: string, extra: Partial<PresenceMeta> = {}): PresenceMeta => ({
  ref,
  userId,
  firstName: userId === 'a' ? 'Ann' : 'Bob',
  typing: false,
  ...extra,
});
const diff = (joins: PresenceMeta[], leaves: PresenceMeta[]): PresenceEvent => ({
  kind: 'DIFF',
  presences: [],
  joins: joins.map((m) => ({ key: m.userId, metas: [m] })),
  leaves: leaves.map((m) => ({ key: m.userId, metas: [m] })),
});

describe('PresenceMembers', () => {
  it('starts from STATE, keeps its selfRef, and sums each user up once with a device count', () => {
    const members = new PresenceMembers();
    members.apply({
      kind: 'STATE',
      presences: [
        { key: 'b', metas: [meta('b', 'b1'), meta('b', 'b2')] },
        { key: 'a', metas: [meta('a', 'a1')] },
      ],
      joins: [],
      leaves: [],
      selfRef: 'a1',
    });
    expect(members.selfRef).toBe('a1');
    expect(members.members()).toEqual([
      { userId: 'a', firstName: 'Ann', devices: 1, typing: false },
      { userId: 'b', firstName: 'Bob', devices: 2, typing: false },
    ]);
  });

  it('applies an update (leave of the old ref, join of the new) joins first, and drops users whose last meta left', () => {
    const members = new PresenceMembers();
    members.apply({ kind: 'STATE', presences: [{ key: 'b', metas: [meta('b', 'b1')] }], joins: [], leaves: [] });
    members.apply(diff([meta('b', 'b2', { typing: true, refPrev: 'b1' })], [meta('b', 'b1')]));
    expect(members.members()).toEqual([{ userId: 'b', firstName: 'Bob', devices: 1, typing: true }]);
    members.apply(diff([], [meta('b', 'b2')]));
    expect(members.members()).toEqual([]);
  });

  it('shows typing while any of a user’s metas types, and ignores a repeated join', () => {
    const members = new PresenceMembers();
    members.apply({ kind: 'STATE', presences: [{ key: 'b', metas: [meta('b', 'b1')] }], joins: [], leaves: [] });
    members.apply(diff([meta('b', 'b1')], []));
    members.apply(diff([meta('b', 'b3', { typing: true })], []));
    expect(members.members()).toEqual([{ userId: 'b', firstName: 'Bob', devices: 2, typing: true }]);
  });

  it('replaces everything on a new STATE (after a reconnect)', () => {
    const members = new PresenceMembers();
    members.apply({
      kind: 'STATE',
      presences: [{ key: 'b', metas: [meta('b', 'b1')] }],
      joins: [],
      leaves: [],
      selfRef: 'x',
    });
    members.apply({
      kind: 'STATE',
      presences: [{ key: 'a', metas: [meta('a', 'a9')] }],
      joins: [],
      leaves: [],
      selfRef: 'a9',
    });
    expect(members.members().map((m) => m.userId)).toEqual(['a']);
    expect(members.selfRef).toBe('a9');
  });
});
