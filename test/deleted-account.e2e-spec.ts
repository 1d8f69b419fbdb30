import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, errorCode, gql, joinChat, signUp, TestUser } from './support/gql';
import { TEST_REDIS_URL } from './support/env';
import { eventually } from './support/presence';
import { connect, messages, WsClientHandle } from './support/ws';

jest.setTimeout(90_000);

/** An account deleted in the database stops working on every instance at once, whatever they had cached. */
describe('a deleted account', () => {
  let db: TestDatabase;
  let a: AppProcess;
  let b: AppProcess;
  let ann: TestUser;
  let chatId: string;
  const sockets: WsClientHandle[] = [];

  beforeAll(async () => {
    db = await TestDatabase.create();
    [a, b] = await Promise.all(
      ['del-a', 'del-b'].map((id) =>
        AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, INSTANCE_ID: id }),
      ),
    );
    ann = await signUp(a.url, 'Ann');
    chatId = await createChat(a.url, ann);
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
  });

  afterAll(async () => {
    await Promise.all([a, b].map((app) => app?.stop()));
    await db?.drop();
  });

  /** A member known to both instances (each has seen his token), with a live subscription on b. */
  async function activeMember(name: string): Promise<{ user: TestUser; socket: WsClientHandle }> {
    const user = await signUp(a.url, name);
    await joinChat(b.url, user, chatId);
    for (const app of [a, b]) expect(errorCode(await gql(app.url, '{ me { id } }', {}, user.token))).toBeUndefined();
    const socket = connect(b.wsUrl, user.token);
    sockets.push(socket);
    // From the start of the chat: the message arrives by replay or live, either way through b's subscription.
    const feed = messages(socket, chatId, 0);
    await gql(
      a.url,
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { seq } }',
      { input: { chatId, content: `hi ${name}` } },
      ann.token,
    );
    await feed.until(() => feed.data.some((message) => message.content === `hi ${name}`), 'the message');
    return { user, socket };
  }

  async function expectRefusedEverywhere(user: TestUser): Promise<void> {
    for (const app of [a, b]) {
      expect(errorCode(await gql(app.url, '{ me { id } }', {}, user.token))).toBe('UNAUTHENTICATED');
      expect(
        errorCode(
          await gql(
            app.url,
            'mutation { createChat(input: { roomName: "mine", isPrivate: false }) { id } }',
            {},
            user.token,
          ),
        ),
      ).toBe('UNAUTHENTICATED');
      expect(
        errorCode(
          await gql(app.url, 'mutation($id: ID!) { joinChat(chatId: $id) { id } }', { id: chatId }, user.token),
        ),
      ).toBe('UNAUTHENTICATED');
    }
    // A new socket with the same token is refused before any operation.
    const again = connect(b.wsUrl, user.token);
    sockets.push(again);
    expect((await again.closed).code).toBe(4403);
  }

  it('closes its sockets with 4403 and is UNAUTHENTICATED on every instance', async () => {
    const { user, socket } = await activeMember('Dave');
    await db.query('DELETE FROM users WHERE id = $1', [user.id]);
    expect((await socket.closed).code).toBe(4403);
    await expectRefusedEverywhere(user);
  });

  it('is noticed even when the deletion was announced while an instance was not listening', async () => {
    const { user, socket } = await activeMember('Erin');
    // Both instances' listening connections are cut, and the account is deleted before they are back.
    const cut = await db.query<{ cut: boolean }>(
      `SELECT pg_terminate_backend(pid, 5000) AS cut FROM pg_stat_activity
       WHERE datname = current_database() AND application_name IN ('chat-del-a:listen', 'chat-del-b:listen')`,
    );
    expect(cut.map((row) => row.cut)).toEqual([true, true]);
    await db.query('DELETE FROM users WHERE id = $1', [user.id]);
    expect((await socket.closed).code).toBe(4403);
    await expectRefusedEverywhere(user);
    // And the instances listen again: the next deletion arrives as a notification.
    await eventually(
      () => db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'chat-del-_:listen'`),
      (rows) => rows.length === 2,
    );
    const next = await activeMember('Finn');
    await db.query('DELETE FROM users WHERE id = $1', [next.user.id]);
    expect((await next.socket.closed).code).toBe(4403);
  });
});
