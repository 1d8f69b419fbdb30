import { ChatList, ListedChat } from './chat-list';

const chat = (id: string, lastSeq: number, lastReadSeq: number, at: string): ListedChat => ({
  id,
  roomName: `room ${id}`,
  isPrivate: false,
  createdAt: '2026-01-01T00:00:00.000Z',
  lastSeq,
  lastReadSeq,
  lastMessage: lastSeq
    ? { seq: lastSeq, content: `m${lastSeq}`, createdAt: at, revision: 0, deletedAt: null, user: { firstName: 'Ann' } }
    : null,
});

describe('ChatList', () => {
  it('keeps the newest of the query and the events, whatever order they come in', () => {
    const list = new ChatList();
    // An event that overtook the query's answer…
    list.apply({ chatId: 'a', member: true, chat: chat('a', 5, 2, '2026-01-01T00:05:00.000Z') });
    // …is not undone by it.
    list.load([chat('a', 4, 3, '2026-01-01T00:04:00.000Z')]);
    const [a] = list.sorted();
    expect([a.lastSeq, a.lastReadSeq, a.lastMessage?.content, list.unread(a)]).toEqual([5, 3, 'm5', 2]);
  });

  it('puts the chat with the newest activity first, and drops a chat the viewer left', () => {
    const list = new ChatList();
    list.load([chat('a', 1, 1, '2026-01-01T00:01:00.000Z'), chat('b', 1, 0, '2026-01-01T00:02:00.000Z')]);
    expect(list.sorted().map((c) => c.id)).toEqual(['b', 'a']);
    expect(list.apply({ chatId: 'a', member: true, chat: chat('a', 2, 1, '2026-01-01T00:03:00.000Z') })).toBe(true);
    expect(list.sorted().map((c) => c.id)).toEqual(['a', 'b']);
    expect(list.apply({ chatId: 'a', member: false, chat: null })).toBe(true);
    expect(list.sorted().map((c) => c.id)).toEqual(['b']);
    // A query answered before the leave does not bring it back.
    list.load([chat('a', 2, 1, '2026-01-01T00:03:00.000Z')]);
    expect(list.sorted().map((c) => c.id)).toEqual(['b']);
  });

  it('clears a badge as the viewer reads, never past the last message', () => {
    const list = new ChatList();
    list.load([chat('a', 3, 0, '2026-01-01T00:01:00.000Z')]);
    expect(list.read('a', 9)).toBe(true);
    expect(list.unread(list.sorted()[0])).toBe(0);
    expect(list.read('a', 2)).toBe(false);
  });

  it('takes an edit or delete of the last message, and never an older state of it', () => {
    const list = new ChatList();
    const first = chat('a', 3, 3, '2026-01-01T00:01:00.000Z');
    list.load([first]);
    const edited = { ...first, lastMessage: { ...first.lastMessage!, content: 'm3, edited', revision: 4 } };
    expect(list.apply({ chatId: 'a', member: true, chat: edited })).toBe(true);
    expect(list.sorted()[0].lastMessage?.content).toBe('m3, edited');
    // The query's answer, read before the edit, arrives late: the preview stays edited.
    expect(list.apply({ chatId: 'a', member: true, chat: first })).toBe(false);
    expect(list.sorted()[0].lastMessage?.content).toBe('m3, edited');
  });
});
