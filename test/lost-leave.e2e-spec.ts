import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, gql, joinChat, ok, sendMessage, signUp } from './support/gql';
import { applyEvents, eventually, flatten, presence, readPresence } from './support/presence';
import { freePort, TestRedis } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { connect, messages, WsClientHandle } from './support/ws';

jest.setTimeout(90_000);

/** A leave whose event an instance never received is still enforced there, once its bus is back. */
describe('a leave made while an instance had lost Redis', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let proxy: TcpProxy;
  let a: AppProcess;
  let b: AppProcess;
  const sockets: WsClientHandle[] = [];

  beforeAll(async () => {
    db = await TestDatabase.create();
    redis = await TestRedis.start();
    proxy = new TcpProxy(redis.port, await freePort());
    await proxy.open();
    a = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: redis.url });
    // b reaches Redis only through the proxy, which the test cuts.
    b = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
  });

  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.dispose()));
    await Promise.all([a?.stop(), b?.stop()]);
    await proxy?.cut();
    await redis?.stop();
    await db?.drop();
  });

  it("ends the leaver's subscriptions and presence on that instance before it delivers again", async () => {
    const ann = await signUp(a.url, 'Ann');
    const dave = await signUp(a.url, 'Dave');
    const chatId = await createChat(a.url, ann);
    await joinChat(a.url, dave, chatId);

    const daveSocket = connect(b.wsUrl, dave.token);
    sockets.push(daveSocket);
    const daveMessages = messages(daveSocket, chatId, 0);
    const davePresence = presence(daveSocket, chatId);
    await sendMessage(a.url, ann, chatId, 'before');
    await daveMessages.until(() => daveMessages.data.some((m) => m.content === 'before'), 'the first message');
    await davePresence.until(() => applyEvents(davePresence.data).size === 1, "Dave's own meta");
    const annSocket = connect(a.wsUrl, ann.token);
    sockets.push(annSocket);
    const annPresence = presence(annSocket, chatId, false);
    await annPresence.until(() => applyEvents(annPresence.data).size === 1, "Dave's meta, seen by Ann");

    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(ok(await gql(a.url, 'mutation($c: ID!) { leaveChat(chatId: $c) }', { c: chatId }, dave.token))).toEqual({
      leaveChat: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await proxy.open();

    // b's bus reconnects, checks every membership it serves again, and ends Dave's two subscriptions.
    await Promise.all([daveMessages.done(20_000), davePresence.done(20_000)]);
    for (let i = 0; i < 3; i++) await sendMessage(a.url, ann, chatId, `after ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(daveMessages.data.map((m) => m.content)).toEqual(['before']);
    expect(daveMessages.errors).toEqual([]);

    // His meta leaves, for Ann's subscription and in what both instances report.
    await annPresence.until(() => applyEvents(annPresence.data).size === 0, "Dave's meta to leave", 20_000);
    for (const app of [a, b]) {
      await eventually(
        async () => flatten(await readPresence(app.url, ann.token, chatId)),
        (metas) => metas.length === 0,
        20_000,
      );
    }
    expect(b.logs).toMatch(/membership re-checked after a bus reconnect: \d+ watched, 1 no longer members/);
  });

  it('checks ten thousand subscriptions again in batches, and ends only those whose viewer left', async () => {
    const users = await Promise.all(Array.from({ length: 100 }, (_, i) => signUp(a.url, `U${i}`)));
    const chats = await db.query<{ id: string }>(
      `INSERT INTO chats (room_name, created_by) SELECT 'room ' || g, $1 FROM generate_series(1, 100) g RETURNING id`,
      [users[0].id],
    );
    await db.query(
      `INSERT INTO chat_members (chat_id, user_id) SELECT c.id, u.id FROM chats c, users u
       WHERE c.id = ANY($1::uuid[]) AND u.id = ANY($2::uuid[])`,
      [chats.map((chat) => chat.id), users.map((user) => user.id)],
    );
    // Each user's one socket on b holds a subscription to every chat: 10,000 in all.
    const feeds = users.map((user) => {
      const socket = connect(b.wsUrl, user.token);
      sockets.push(socket);
      return chats.map((chat) => messages(socket, chat.id, 0));
    });
    const [first] = chats;
    await sendMessage(a.url, users[0], first.id, 'hello');
    await Promise.all(feeds.map((perChat) => perChat[0].count(1, 60_000)));

    const logsBefore = b.logs.length;
    await proxy.cut();
    const leavers = users.slice(0, 5);
    for (const user of leavers) {
      ok(await gql(a.url, 'mutation($c: ID!) { leaveChat(chatId: $c) }', { c: first.id }, user.token));
    }
    await proxy.open();

    await Promise.all(leavers.map((_, i) => feeds[i][0].done(30_000)));
    const report = await eventually(
      async () =>
        /membership re-checked after a bus reconnect: (\d+) watched, (\d+) no longer members, (\d+) ms/.exec(
          b.logs.slice(logsBefore),
        ),
      (match) => match !== null,
      30_000,
    );
    expect([Number(report![1]) >= 10_000, Number(report![2])]).toEqual([true, 5]);
    console.log(`membership re-check: ${report![1]} watched memberships in ${report![3]} ms`);
    // Everyone else's subscriptions go on.
    const running = feeds.flat().filter((feed) => !feed.completed);
    expect(running).toHaveLength(10_000 - leavers.length);
  });
});
