import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, errorCode, gql, GqlResponse, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import { TEST_REDIS_URL } from './support/env';
import { connect, messages, Recorder, WsClientHandle } from './support/ws';

jest.setTimeout(90_000);

const ROLES = 'query($c: ID!) { chat(id: $c) { myRole memberships { user { firstName } role } } }';
const REMOVE = 'mutation($c: ID!, $u: ID!) { removeMember(chatId: $c, userId: $u) }';
const RENAME = 'mutation($c: ID!, $n: String!) { renameChat(chatId: $c, roomName: $n) { roomName } }';
const LEAVE = 'mutation($c: ID!) { leaveChat(chatId: $c) }';
const DIRECT = 'mutation($u: ID!) { directChat(userId: $u) { id isDirect isPrivate myRole } }';
const ADD = 'mutation($c: ID!, $u: ID, $e: String) { addMember(chatId: $c, userId: $u, email: $e) { id } }';

describe('owners, members and direct chats', () => {
  let db: TestDatabase;
  let a: AppProcess;
  let b: AppProcess;
  const sockets: WsClientHandle[] = [];

  const open = (app: AppProcess, user: TestUser) => {
    const socket = connect(app.wsUrl, user.token);
    sockets.push(socket);
    return socket;
  };
  const roles = async (user: TestUser, chatId: string) =>
    ok(
      await gql<{ chat: { myRole: string; memberships: { user: { firstName: string }; role: string }[] } }>(
        a.url,
        ROLES,
        { c: chatId },
        user.token,
      ),
    ).chat;

  beforeAll(async () => {
    db = await TestDatabase.create();
    [a, b] = await Promise.all([0, 1].map(() => AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL })));
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  it('lets only the owner rename and remove; removal ends what leaving ends, on every instance', async () => {
    const [ann, bob, cy] = await Promise.all(['Ann', 'Bob', 'Cy'].map((name) => signUp(a.url, name)));
    const chatId = await createChat(a.url, ann, 'team');
    for (const user of [bob, cy]) await joinChat(a.url, user, chatId);
    expect(await roles(bob, chatId)).toEqual({
      myRole: 'MEMBER',
      memberships: [
        { user: { firstName: 'Ann' }, role: 'OWNER' },
        { user: { firstName: 'Bob' }, role: 'MEMBER' },
        { user: { firstName: 'Cy' }, role: 'MEMBER' },
      ],
    });

    expect(errorCode(await gql(b.url, RENAME, { c: chatId, n: 'mine' }, bob.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(b.url, REMOVE, { c: chatId, u: cy.id }, bob.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(a.url, RENAME, { c: chatId, n: '   ' }, ann.token))).toBe('BAD_USER_INPUT');
    const outsider = await signUp(a.url, 'Out');
    expect(errorCode(await gql(a.url, REMOVE, { c: chatId, u: outsider.id }, ann.token))).toBe('NOT_FOUND');

    // Cy is subscribed on b: messages, read positions and his chat list.
    const cySocket = open(b, cy);
    const cyMessages = messages(cySocket, chatId, 0);
    const cyReads = new Recorder(
      cySocket,
      'subscription($c: ID!) { readPositions(chatId: $c) { lastReadSeq } }',
      {
        c: chatId,
      },
      (data) => data.readPositions,
    );
    const cyInbox = new Recorder<{ chatId: string; member: boolean; chat: { roomName: string } | null }>(
      cySocket,
      'subscription { inbox { chatId member chat { roomName } } }',
      {},
      (data) => data.inbox as { chatId: string; member: boolean; chat: { roomName: string } | null },
    );
    await cyInbox.until(() => cyInbox.data.length > 0, 'the first summary');

    expect(ok(await gql(a.url, RENAME, { c: chatId, n: 'the team' }, ann.token))).toEqual({
      renameChat: { roomName: 'the team' },
    });
    await cyInbox.until(() => cyInbox.data.some((e) => e.chat?.roomName === 'the team'), 'the rename');

    expect(ok(await gql(a.url, REMOVE, { c: chatId, u: cy.id }, ann.token))).toEqual({ removeMember: true });
    await Promise.all([cyMessages.done(), cyReads.done()]);
    await cyInbox.until(() => cyInbox.data.at(-1)?.member === false, 'the chat to leave his list');
    expect(errorCode(await gql(b.url, 'query($c: ID!) { chat(id: $c) { id } }', { c: chatId }, cy.token))).toBe(
      'FORBIDDEN',
    );
  });

  it('hands ownership to the longest-standing member, also when the owner and the heir leave at once', async () => {
    const people = await Promise.all(['Olga', 'Max', 'Nia', 'Pia'].map((name) => signUp(a.url, name)));
    const [olga, max, nia, pia] = people;
    for (let round = 0; round < 5; round++) {
      const chatId = await createChat(a.url, olga, `round ${round}`);
      for (const user of [max, nia, pia]) await joinChat(b.url, user, chatId);
      // The owner and the one who would inherit leave together, through two instances.
      const left = await Promise.all([
        gql(a.url, LEAVE, { c: chatId }, olga.token),
        gql(b.url, LEAVE, { c: chatId }, max.token),
      ]);
      expect(left.map((answer: GqlResponse) => answer.data)).toEqual([{ leaveChat: true }, { leaveChat: true }]);
      expect((await roles(nia, chatId)).memberships).toEqual([
        { user: { firstName: 'Nia' }, role: 'OWNER' },
        { user: { firstName: 'Pia' }, role: 'MEMBER' },
      ]);
    }
  });

  it('shows every member the new owner in their chat list when the owner leaves', async () => {
    const [olga, max, nia] = await Promise.all(['Olga', 'Max', 'Nia'].map((name) => signUp(a.url, name)));
    const chatId = await createChat(a.url, olga, 'handover');
    for (const user of [max, nia]) await joinChat(a.url, user, chatId);
    type Listed = { chat: { myRole: string | null; memberships: { user: { firstName: string }; role: string }[] } };
    const list = new Recorder<Listed>(
      open(b, nia),
      'subscription { inbox { chat { myRole memberships { user { firstName } role } } } }',
      {},
      (data) => data.inbox as Listed,
    );
    // Live once a message shows in it.
    for (let attempt = 0; attempt < 50 && list.data.length === 0; attempt++) {
      await sendMessage(a.url, olga, chatId, 'hello');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await list.count(1);
    ok(await gql(a.url, LEAVE, { c: chatId }, olga.token));
    // Nia is not the heir (Max joined first), and her list shows him as the owner all the same.
    await list.until(
      () =>
        list.data.some(({ chat }) => chat.memberships.some((m) => m.user.firstName === 'Max' && m.role === 'OWNER')),
      'the new owner in Nia’s list',
    );
    expect(list.data[list.data.length - 1].chat).toEqual({
      myRole: 'MEMBER',
      memberships: [
        { user: { firstName: 'Max' }, role: 'OWNER' },
        { user: { firstName: 'Nia' }, role: 'MEMBER' },
      ],
    });
  });

  it('makes one direct chat per pair, also when both ask at once, and keeps it closed to changes', async () => {
    const [ann, bob, cy] = await Promise.all(['Ann', 'Bob', 'Cy'].map((name) => signUp(a.url, name)));
    const both = await Promise.all([
      gql<{ directChat: { id: string } }>(a.url, DIRECT, { u: bob.id }, ann.token),
      gql<{ directChat: { id: string } }>(b.url, DIRECT, { u: ann.id }, bob.token),
    ]);
    const [fromAnn, fromBob] = both.map((answer) => ok(answer).directChat);
    expect(fromAnn).toEqual({ id: fromBob.id, isDirect: true, isPrivate: true, myRole: 'MEMBER' });
    expect(ok(await gql<{ directChat: { id: string } }>(a.url, DIRECT, { u: bob.id }, ann.token)).directChat.id).toBe(
      fromAnn.id,
    );
    const chatId = fromAnn.id;
    expect(errorCode(await gql(a.url, DIRECT, { u: ann.id }, ann.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(a.url, DIRECT, { u: '00000000-0000-4000-8000-000000000000' }, ann.token))).toBe(
      'NOT_FOUND',
    );
    expect(errorCode(await gql(a.url, ADD, { c: chatId, u: cy.id }, ann.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(a.url, REMOVE, { c: chatId, u: bob.id }, ann.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(a.url, REMOVE, { c: chatId, u: ann.id }, ann.token))).toBe('FORBIDDEN');
    expect((await roles(ann, chatId)).memberships).toHaveLength(2);
    expect(errorCode(await gql(a.url, RENAME, { c: chatId, n: 'ours' }, ann.token))).toBe('FORBIDDEN');
    expect(
      errorCode(await gql(a.url, 'mutation($c: ID!) { joinChat(chatId: $c) { id } }', { c: chatId }, cy.token)),
    ).toBe('FORBIDDEN');
    const [{ count }] = await db.query<{ count: string }>('SELECT count(*) FROM chats WHERE is_direct');
    expect(Number(count)).toBe(1);
  });

  it('adds a member by email, exactly one of userId and email', async () => {
    const [ann, dan] = await Promise.all(['Ann', 'Dan'].map((name) => signUp(a.url, name)));
    const chatId = await createChat(a.url, ann, 'secret', true);
    expect(errorCode(await gql(a.url, ADD, { c: chatId }, ann.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(a.url, ADD, { c: chatId, u: dan.id, e: dan.email }, ann.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(a.url, ADD, { c: chatId, e: 'nobody@example.com' }, ann.token))).toBe('NOT_FOUND');
    // Text no account can have (a NUL, which PostgreSQL cannot even store) is nobody's, not an internal error.
    expect(errorCode(await gql(a.url, ADD, { c: chatId, e: 'no\u0000body@example.com' }, ann.token))).toBe('NOT_FOUND');
    ok(await gql(a.url, ADD, { c: chatId, e: `  ${dan.email.toUpperCase()} ` }, ann.token));
    expect((await roles(dan, chatId)).myRole).toBe('MEMBER');
  });
});
