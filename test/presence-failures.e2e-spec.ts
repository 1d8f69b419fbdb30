import { connect as connectTcp } from 'node:net';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_KEY_PREFIX } from './support/env';
import { createChat, errorCode, gql, joinChat, ok, signUp, TestUser } from './support/gql';
import {
  applyEvents,
  describe as describeMetas,
  eventually,
  flatten,
  presence,
  readPresence,
} from './support/presence';
import { TestRedis } from './support/redis-server';
import { connect, WsClientHandle } from './support/ws';

/** Presence when instances stop, crash or lose Redis. Default lease timings (heartbeat 1 s, lease 3 s). */
describe('presence when instances and Redis fail', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let alice: TestUser;
  let bob: TestUser;
  const apps: AppProcess[] = [];
  const handles: WsClientHandle[] = [];
  const start = async (extra: Record<string, string> = {}) => {
    const app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: redis.url, ...extra });
    apps.push(app);
    return app;
  };
  const open = (app: AppProcess, user: TestUser) => {
    const handle = connect(app.wsUrl, user.token);
    handles.push(handle);
    return handle;
  };

  beforeAll(async () => {
    db = await TestDatabase.create();
    redis = await TestRedis.start();
    const first = await start();
    [alice, bob] = await Promise.all([signUp(first.url, 'Alice'), signUp(first.url, 'Bob')]);
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.kill()));
    await redis?.stop();
    await db?.drop();
  });

  /** Alice watches from `observerApp`; Bob has two tabs on `victim`. Resolves once all three metas are seen. */
  async function scene(observerApp: AppProcess, victim: AppProcess) {
    const chatId = await createChat(observerApp.url, alice);
    await joinChat(observerApp.url, bob, chatId);
    const watcher = presence(open(observerApp, alice), chatId);
    const bobTabs = [presence(open(victim, bob), chatId), presence(open(victim, bob), chatId)];
    await Promise.all(bobTabs.map((t) => t.count(1)));
    await watcher.until(() => applyEvents(watcher.data).size === 3, 'three metas');
    const bobGone = () =>
      watcher.until(
        () => [...applyEvents(watcher.data).values()].every((m) => m.userId !== bob.id),
        "bob's metas leaving",
        10_000,
      );
    return { chatId, watcher, bobGone };
  }

  it("SIGTERM: sockets close with 1001 and the instance's metas leave on the others within 1 s", async () => {
    const observer = apps[0];
    const victim = await start();
    const { chatId, bobGone } = await scene(observer, victim);
    const victimSockets = handles.slice(-2);
    const t0 = Date.now();
    const stopped = victim.stop('SIGTERM');
    await bobGone();
    const elapsed = Date.now() - t0;
    expect(await stopped).toBe(0);
    // Its clients were told to go elsewhere (1001), not dropped.
    for (const socket of victimSockets) expect((await socket.closed).code).toBe(1001);
    console.log(`presence: SIGTERM cleanup observed after ${elapsed} ms`);
    expect(elapsed).toBeLessThan(1000);
    const truth = await readPresence(observer.url, alice.token, chatId);
    expect(truth.map((g) => g.key)).toEqual([alice.id]);
  });

  it('SIGTERM beside a request stalled mid-body and one mid-headers: still 1001, leaves at once, exit 0', async () => {
    const observer = apps[0];
    const victim = await start();
    const { bobGone } = await scene(observer, victim);
    const victimSockets = handles.slice(-2);
    const port = Number(new URL(victim.url).port);
    const stalled = [
      'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{"qu',
      'GET /health/live HTTP/1.1\r\nHost: x\r\n',
    ].map((start) => {
      const socket = connectTcp(port, '127.0.0.1', () => socket.write(start));
      socket.on('error', () => undefined);
      return socket;
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const t0 = Date.now();
      const stopped = victim.stop('SIGTERM');
      await bobGone();
      expect(Date.now() - t0).toBeLessThan(1000);
      for (const socket of victimSockets) expect((await socket.closed).code).toBe(1001);
      expect(await stopped).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      for (const socket of stalled) socket.destroy();
    }
  });

  it("SIGKILL: the instance's metas leave within 5 s and no ghost remains", async () => {
    const observer = apps[0];
    const victim = await start();
    const { chatId, bobGone } = await scene(observer, victim);
    const t0 = Date.now();
    await victim.kill();
    await bobGone();
    const elapsed = Date.now() - t0;
    console.log(`presence: SIGKILL cleanup observed after ${elapsed} ms`);
    expect(elapsed).toBeLessThan(5000);
    const truth = await readPresence(observer.url, alice.token, chatId);
    expect(flatten(truth).map((m) => m.userId)).toEqual([alice.id]);
  });

  it('a restart under the same INSTANCE_ID clears what the previous run left, at once', async () => {
    const observer = apps[0];
    const victim = await start({ INSTANCE_ID: 'fixed-instance', PRESENCE_LEASE_TTL_MS: '60000' });
    const { bobGone } = await scene(observer, victim);
    await victim.kill();
    const t0 = Date.now();
    await start({ INSTANCE_ID: 'fixed-instance', PRESENCE_LEASE_TTL_MS: '60000' });
    await bobGone();
    // With a 60 s lease, only the restart can have removed them.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('converges on every instance after Redis restarts, without restarting anything', async () => {
    const [a, b] = [apps[0], await start()];
    const chatId = await createChat(a.url, alice);
    await joinChat(a.url, bob, chatId);
    const watchers = [
      presence(open(a, alice), chatId),
      presence(open(b, bob), chatId),
      presence(open(b, alice), chatId),
    ];
    await Promise.all(watchers.map((w) => w.until(() => applyEvents(w.data).size === 3, 'three metas')));
    const before = describeMetas(applyEvents(watchers[0].data).values());

    const t0 = Date.now();
    await redis.restart();
    // The new Redis is empty: every instance notices and re-asserts its metas there...
    await eventually(
      () => redis.command('HLEN', `${TEST_KEY_PREFIX}presence:{${chatId}}:metas`),
      (n) => n === 3,
      15_000,
    );
    const reasserted = Date.now() - t0;
    // ...and every replica and every subscriber agrees again.
    const expected = JSON.stringify(before);
    for (const app of [a, b]) {
      await eventually(
        () => readPresence(app.url, alice.token, chatId),
        (groups) => JSON.stringify(describeMetas(flatten(groups))) === expected,
        15_000,
      );
    }
    for (const w of watchers) {
      await w.until(
        () => JSON.stringify(describeMetas(applyEvents(w.data).values())) === expected,
        'the view to converge',
        15_000,
      );
    }
    console.log(
      `presence: metas re-asserted ${reasserted} ms and views converged ${Date.now() - t0} ms after the Redis restart`,
    );
    // And presence keeps working afterwards, the same everywhere.
    const late = presence(open(a, bob), chatId);
    await late.count(1);
    for (const w of [...watchers, late]) await w.until(() => applyEvents(w.data).size === 4, 'a fourth meta');
    const after = await readPresence(b.url, bob.token, chatId);
    expect(flatten(after)).toHaveLength(4);
  });

  it('answers presence calls while Redis stalls, instead of waiting for it, and converges once it answers', async () => {
    const [a, b] = [apps[0], await start()];
    const chatId = await createChat(a.url, alice);
    const watcher = presence(open(a, alice), chatId);
    await watcher.until(() => applyEvents(watcher.data).size === 1, "alice's meta");
    const SET = 'mutation($c: ID!, $t: Boolean!) { setTyping(chatId: $c, typing: $t) }';
    const READ = 'query($c: ID!) { chat(id: $c) { presence { key } } }';
    redis.suspend();
    // Resumed in any case, so a failure here cannot leave the other tests a stopped Redis.
    const resumed = new Promise((resolve) => setTimeout(resolve, 8_000)).then(() => redis.resume());
    try {
      const started = Date.now();
      // b has no replica of the chat: its read goes to Redis, as the typing flag does.
      const answers = await Promise.all([
        gql(a.url, SET, { c: chatId, t: true }, alice.token),
        gql(b.url, READ, { c: chatId }, alice.token),
      ]);
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(answers.map((answer) => errorCode(answer))).toEqual(['INTERNAL_SERVER_ERROR', 'INTERNAL_SERVER_ERROR']);
    } finally {
      await resumed;
    }
    await eventually(
      () => readPresence(b.url, alice.token, chatId),
      (groups) => groups.length === 1,
    );
    expect(errorCode(await gql(a.url, SET, { c: chatId, t: false }, alice.token))).toBeUndefined();
  });

  it('bounds metas per user per chat, and rate-limits typing floods but not a normal pace', async () => {
    const app = await start({ PRESENCE_MAX_METAS_PER_USER: '2' });
    const chatId = await createChat(app.url, alice);
    const tabs = [1, 2, 3].map(() => presence(open(app, alice), chatId));
    // They race: whichever two come first are tracked, the third is refused.
    await Promise.all(tabs.map((t) => t.until(() => t.data.length > 0 || t.errors.length > 0, 'STATE or an error')));
    expect(tabs.filter((t) => t.data[0]?.kind === 'STATE')).toHaveLength(2);
    expect(tabs.flatMap((t) => t.errors.map((e) => e.extensions?.code))).toEqual(['CONFLICT']);

    const SET = 'mutation($c: ID!, $t: Boolean!) { setTyping(chatId: $c, typing: $t) }';
    for (let i = 0; i < 5; i++) ok(await gql(app.url, SET, { c: chatId, t: i % 2 === 0 }, alice.token));
    const flood = await Promise.all(
      Array.from({ length: 60 }, (_, i) => gql(app.url, SET, { c: chatId, t: i % 2 === 0 }, alice.token)),
    );
    const limited = flood.filter((r) => errorCode(r) === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0].errors![0].extensions!.retryAfterMs).toEqual(expect.any(Number));
  });
});
