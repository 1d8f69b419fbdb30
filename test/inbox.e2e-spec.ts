import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, errorCode, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import { TEST_REDIS_URL } from './support/env';
import { connect, Recorder, WsClientHandle } from './support/ws';

jest.setTimeout(90_000);

const MARK_READ = 'mutation($c: ID!, $s: Int!) { markRead(chatId: $c, seq: $s) }';
const SUMMARY = 'id roomName lastSeq lastReadSeq unreadCount myRole lastRevision lastMessage { seq content }';

interface Summary {
  id: string;
  roomName: string;
  lastSeq: number;
  lastReadSeq: number;
  unreadCount: number;
  myRole: string | null;
  lastRevision: number;
  lastMessage: { seq: number; content: string } | null;
}

interface InboxEvent {
  chatId: string;
  member: boolean;
  chat: Summary | null;
}

interface ReadPosition {
  user: { id: string };
  lastReadSeq: number;
}

function inbox(handle: WsClientHandle): Recorder<InboxEvent> {
  return new Recorder<InboxEvent>(
    handle,
    `subscription { inbox { chatId member chat { ${SUMMARY} } } }`,
    {},
    (data) => data.inbox as InboxEvent,
  );
}

/** What a client's chat list shows after applying the events: per chat, the newest summary. */
function listOf(events: InboxEvent[]): Map<string, Summary> {
  const list = new Map<string, Summary>();
  for (const event of events) {
    if (!event.member || !event.chat) {
      list.delete(event.chatId);
      continue;
    }
    const known = list.get(event.chatId);
    if (!known || event.chat.lastSeq >= known.lastSeq) list.set(event.chatId, event.chat);
    else list.set(event.chatId, { ...known, lastReadSeq: Math.max(known.lastReadSeq, event.chat.lastReadSeq) });
  }
  return list;
}

describe('read state and the inbox', () => {
  let db: TestDatabase;
  let a: AppProcess;
  let b: AppProcess;
  let ann: TestUser;
  let bob: TestUser;
  const sockets: WsClientHandle[] = [];

  const open = (app: AppProcess, user: TestUser) => {
    const socket = connect(app.wsUrl, user.token);
    sockets.push(socket);
    return socket;
  };
  const summaries = async (app: AppProcess, user: TestUser) =>
    ok(await gql<{ chats: Summary[] }>(app.url, `{ chats { ${SUMMARY} } }`, {}, user.token)).chats;

  beforeAll(async () => {
    db = await TestDatabase.create();
    // Sends race in bursts here; the message limit is not what is tested.
    const env = { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, RATE_LIMIT_MESSAGES_BURST: '500' };
    [a, b] = await Promise.all([0, 1].map(() => AppProcess.start(env)));
    [ann, bob] = await Promise.all([signUp(a.url, 'Ann'), signUp(a.url, 'Bob')]);
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  it('counts unread messages from read positions; sending reads up to your own message', async () => {
    const chatId = await createChat(a.url, ann, 'reading');
    await joinChat(b.url, bob, chatId);
    for (let i = 1; i <= 3; i++) await sendMessage(a.url, ann, chatId, `m${i}`);

    const [forBob] = (await summaries(b, bob)).filter((chat) => chat.id === chatId);
    expect(forBob).toMatchObject({ lastSeq: 3, lastReadSeq: 0, unreadCount: 3, myRole: 'MEMBER' });
    expect(forBob.lastMessage).toEqual({ seq: 3, content: 'm3' });
    const [forAnn] = (await summaries(a, ann)).filter((chat) => chat.id === chatId);
    expect(forAnn).toMatchObject({ lastReadSeq: 3, unreadCount: 0, myRole: 'OWNER' });
    // Someone who is not in the chat has read none of it.
    const outsider = await signUp(a.url, 'Cy');
    const listed = ok(
      await gql<{ publicChats: { id: string; lastReadSeq: number; unreadCount: number; myRole: string | null }[] }>(
        a.url,
        '{ publicChats { id lastReadSeq unreadCount myRole } }',
        {},
        outsider.token,
      ),
    ).publicChats.find((chat) => chat.id === chatId);
    expect(listed).toEqual({ id: chatId, lastReadSeq: 0, unreadCount: 3, myRole: null });

    expect(ok(await gql(a.url, MARK_READ, { c: chatId, s: 2 }, bob.token))).toEqual({ markRead: 2 });
    // Never back: a smaller seq changes nothing and answers the position.
    expect(ok(await gql(b.url, MARK_READ, { c: chatId, s: 1 }, bob.token))).toEqual({ markRead: 2 });
    const memberships = ok(
      await gql<{ chat: { memberships: { user: { firstName: string }; role: string; lastReadSeq: number }[] } }>(
        b.url,
        'query($c: ID!) { chat(id: $c) { memberships { user { firstName } role lastReadSeq } } }',
        { c: chatId },
        bob.token,
      ),
    ).chat.memberships;
    expect(memberships).toEqual([
      { user: { firstName: 'Ann' }, role: 'OWNER', lastReadSeq: 3 },
      { user: { firstName: 'Bob' }, role: 'MEMBER', lastReadSeq: 2 },
    ]);
  });

  it('refuses a read position outside the chat, for a non-member, and for an unknown chat', async () => {
    const chatId = await createChat(a.url, ann, 'bounds');
    await sendMessage(a.url, ann, chatId, 'only');
    const carol = await signUp(a.url, 'Carol');
    expect(errorCode(await gql(a.url, MARK_READ, { c: chatId, s: 2 }, ann.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(a.url, MARK_READ, { c: chatId, s: -1 }, ann.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(a.url, MARK_READ, { c: chatId, s: 1 }, carol.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(a.url, MARK_READ, { c: '00000000-0000-4000-8000-000000000000', s: 0 }, ann.token))).toBe(
      'NOT_FOUND',
    );
    // A flood is limited like setTyping.
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => gql(b.url, MARK_READ, { c: chatId, s: 1 }, ann.token)),
    );
    expect(answers.map(errorCode)).toContain('RATE_LIMITED');
  });

  it('tells every member each move of a read position, the reader own and the sender', async () => {
    const chatId = await createChat(a.url, ann, 'receipts');
    await joinChat(a.url, bob, chatId);
    await sendMessage(a.url, ann, chatId, 'hello');
    const positions = new Recorder<ReadPosition>(
      open(b, ann),
      'subscription($c: ID!) { readPositions(chatId: $c) { user { id } lastReadSeq } }',
      { c: chatId },
      (data) => data.readPositions as ReadPosition,
    );
    // Subscribed once a move made now is seen: Ann's own, as she sends.
    let lastSeq = 1;
    await eventuallyTold(positions, async () => {
      lastSeq = (await sendMessage(a.url, ann, chatId, 'probe')).seq;
    });
    expect(positions.data[0]).toEqual({ user: { id: ann.id }, lastReadSeq: positions.data[0].lastReadSeq });
    ok(await gql(a.url, MARK_READ, { c: chatId, s: lastSeq }, bob.token));
    const reply = await sendMessage(a.url, bob, chatId, 'reply');
    await positions.until(
      () => positions.data.some((p) => p.user.id === bob.id && p.lastReadSeq === reply.seq),
      "Bob's move to his own message",
    );
    expect(positions.data.filter((p) => p.user.id === bob.id)).toEqual([
      { user: { id: bob.id }, lastReadSeq: lastSeq },
      { user: { id: bob.id }, lastReadSeq: reply.seq },
    ]);

    // Bob leaves and comes back: he starts unread again, and his moves are told from there, below where he was.
    ok(await gql(a.url, 'mutation($c: ID!) { leaveChat(chatId: $c) }', { c: chatId }, bob.token));
    await joinChat(a.url, bob, chatId);
    ok(await gql(a.url, MARK_READ, { c: chatId, s: 1 }, bob.token));
    await positions.until(
      () => positions.data.filter((p) => p.user.id === bob.id).length === 3,
      "Bob's move after he came back",
    );
    expect(positions.data.filter((p) => p.user.id === bob.id)[2]).toEqual({ user: { id: bob.id }, lastReadSeq: 1 });
  });

  it('lists a chat in its creator’s inbox as it is created, and follows its messages', async () => {
    const first = await createChat(a.url, ann, 'already there');
    const feed = inbox(open(b, ann));
    // The chat Ann was already in is summed up first: the subscription is live from here on.
    await feed.until(() => listOf(feed.data).has(first), 'the first summary');
    const created = await createChat(a.url, ann, 'made just now', true);
    await feed.until(() => listOf(feed.data).has(created), 'the new chat');
    await sendMessage(a.url, ann, created, 'first words');
    await feed.until(() => listOf(feed.data).get(created)?.lastMessage?.content === 'first words', 'its message');
  });

  it('shows an edit or delete of the newest message in the list, and nothing for older ones', async () => {
    const chatId = await createChat(a.url, ann, 'previews');
    await joinChat(a.url, bob, chatId);
    const older = await sendMessage(a.url, ann, chatId, 'older');
    const newest = await sendMessage(a.url, ann, chatId, 'newest');
    const feed = inbox(open(b, bob));
    const preview = () => listOf(feed.data).get(chatId)?.lastMessage?.content;
    await feed.until(() => preview() === 'newest', 'the first summary');
    const edit = 'mutation($id: ID!, $content: String!) { editMessage(id: $id, content: $content) { revision } }';

    ok(await gql(a.url, edit, { id: older.id, content: 'older, edited' }, ann.token));
    ok(await gql(a.url, edit, { id: newest.id, content: 'newest, edited' }, ann.token));
    await feed.until(() => preview() === 'newest, edited', 'the edited preview');
    ok(await gql(a.url, 'mutation($id: ID!) { deleteMessage(id: $id) { revision } }', { id: newest.id }, ann.token));
    await feed.until(() => preview() === '', 'the deleted preview');

    expect(feed.data.map((event) => event.chat?.lastMessage?.content)).not.toContain('older, edited');
    expect(listOf(feed.data).get(chatId)).toEqual((await summaries(b, bob)).find((chat) => chat.id === chatId));
  });

  it('shows the sender’s own read position, with sends racing on two instances', async () => {
    const chatId = await createChat(a.url, ann, 'racing');
    const cat = await signUp(a.url, 'Cat');
    await Promise.all([joinChat(a.url, bob, chatId), joinChat(a.url, cat, chatId)]);
    const feed = inbox(open(a, cat));
    await feed.until(() => listOf(feed.data).has(chatId), 'the first summary');
    for (let round = 0; round < 8; round++) {
      // Commits on two instances finish in any order, and their publishes reach this instance so.
      const others = Array.from({ length: 16 }, (_, i) =>
        sendMessage(i % 2 ? b.url : a.url, i % 2 ? bob : ann, chatId, `round ${round}, ${i}`),
      );
      const sends = [
        ...others.slice(0, 8),
        sendMessage(b.url, cat, chatId, `round ${round}, mine`),
        ...others.slice(8),
      ];
      const sent = await Promise.all(sends);
      const own = sent[8].seq;
      const lastSeq = Math.max(...sent.map((message) => message.seq));
      await feed.until(() => (listOf(feed.data).get(chatId)?.lastSeq ?? 0) >= lastSeq, `round ${round}`);
      // The list reads as the chat does: Cat's own message moved Cat's read position.
      await feed.until(() => listOf(feed.data).get(chatId)?.lastReadSeq === own, `round ${round}: read up to ${own}`);
      const shown = listOf(feed.data).get(chatId);
      expect(shown).toEqual((await summaries(a, cat)).find((chat) => chat.id === chatId));
    }
  });

  it('keeps one user’s inboxes on two instances in step: messages, reading, entering and leaving', async () => {
    const chatId = await createChat(a.url, ann, 'inbox');
    await joinChat(a.url, bob, chatId);
    const onA = inbox(open(a, bob));
    const onB = inbox(open(b, bob));
    const annsOnB = inbox(open(b, ann));
    // Each starts with a summary of every chat Bob is in.
    for (const feed of [onA, onB, annsOnB]) {
      await feed.until(() => listOf(feed.data).has(chatId), 'the first summary');
    }
    const list = await summaries(a, bob);

    const news = await sendMessage(b.url, ann, chatId, 'news');
    for (const feed of [onA, onB]) {
      await feed.until(() => listOf(feed.data).get(chatId)?.unreadCount === 1, 'the badge to rise');
      expect(listOf(feed.data).get(chatId)?.lastMessage?.content).toBe('news');
    }
    // The same message in Ann's list on the same instance: hers, so read, with no badge.
    await annsOnB.until(() => listOf(annsOnB.data).get(chatId)?.lastSeq === news.seq, "Ann's summary");
    expect(listOf(annsOnB.data).get(chatId)).toMatchObject({ lastReadSeq: news.seq, unreadCount: 0, myRole: 'OWNER' });
    expect(listOf(onB.data).get(chatId)).toMatchObject({ lastReadSeq: 0, myRole: 'MEMBER' });
    // Reading on one device clears the badge on the other.
    ok(await gql(a.url, MARK_READ, { c: chatId, s: 1 }, bob.token));
    for (const feed of [onA, onB]) {
      await feed.until(() => listOf(feed.data).get(chatId)?.unreadCount === 0, 'the badge to clear');
    }

    // Being added to a private chat makes it appear; leaving makes it go.
    const secret = await createChat(a.url, ann, 'secret', true);
    await sendMessage(a.url, ann, secret, 'psst');
    ok(
      await gql(
        a.url,
        'mutation($c: ID!, $u: ID!) { addMember(chatId: $c, userId: $u) { id } }',
        { c: secret, u: bob.id },
        ann.token,
      ),
    );
    for (const feed of [onA, onB]) {
      await feed.until(() => listOf(feed.data).get(secret)?.unreadCount === 1, 'the private chat to appear');
    }
    ok(await gql(b.url, 'mutation($c: ID!) { leaveChat(chatId: $c) }', { c: chatId }, bob.token));
    for (const feed of [onA, onB]) {
      await feed.until(() => !listOf(feed.data).has(chatId), 'the chat to go');
      expect(feed.data.at(-1)).toEqual({ chatId, member: false, chat: null });
    }
    // Nothing about the chat he left reaches him any more.
    const before = onA.data.length;
    await sendMessage(a.url, ann, chatId, 'after he left');
    await sendMessage(a.url, ann, secret, 'still here');
    await onA.until(() => onA.data.length > before, 'the next event');
    expect(onA.data.slice(before).map((event) => event.chatId)).toEqual([secret]);
    // The list a client built (the query, then the events) is the list the server has now.
    await onB.until(() => listOf(onB.data).get(secret)?.lastSeq === 2, 'the last message');
    const built = listOf([...list.map((chat) => ({ chatId: chat.id, member: true, chat })), ...onB.data]);
    expect(built).toEqual(new Map((await summaries(b, bob)).map((chat) => [chat.id, chat])));
  });
});

/** Repeats `act` until the recorder has seen something: a subscription has no acknowledgement of its own. */
async function eventuallyTold<T>(recorder: Recorder<T>, act: () => Promise<void>): Promise<void> {
  for (let attempt = 0; attempt < 50 && recorder.data.length === 0; attempt++) {
    await act();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await recorder.count(1);
}
