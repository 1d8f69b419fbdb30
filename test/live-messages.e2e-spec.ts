import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import { RedisKind, startRedis } from './support/redis-cluster';
import { connect, messages, Recorder, WsClientHandle } from './support/ws';

const seqRange = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Delivery and resume on one instance, with Redis and with the in-process engine. */
describe.each([
  ['Redis bus', true],
  ['in-process bus', false],
])('live messages on one instance (%s)', (_name, useRedis) => {
  let db: TestDatabase;
  let app: AppProcess;
  const handles: WsClientHandle[] = [];
  const open = (token?: string | null) => {
    const handle = connect(app.wsUrl, token);
    handles.push(handle);
    return handle;
  };

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: useRedis ? TEST_REDIS_URL : undefined,
      RATE_LIMIT_MESSAGES_BURST: '1000',
    });
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('delivers every message once, in order, to every subscriber including the sender', async () => {
    const [alice, bob] = await Promise.all([signUp(app.url, 'Alice'), signUp(app.url, 'Bob')]);
    const chatId = await createChat(app.url, alice);
    await joinChat(app.url, bob, chatId);
    const a = messages(open(alice.token), chatId, 0);
    const b = messages(open(bob.token), chatId, 0);
    for (let i = 1; i <= 10; i++) await sendMessage(app.url, i % 2 ? alice : bob, chatId, `hello ${i}`);
    await Promise.all([a.count(10), b.count(10)]);
    expect(a.data.map((m) => m.seq)).toEqual(seqRange(1, 10));
    expect(b.data.map((m) => m.seq)).toEqual(seqRange(1, 10));
    expect(b.data[0]).toMatchObject({ content: 'hello 1', chatId, user: { id: alice.id, firstName: 'Alice' } });
    expect(typeof (b.data[0] as unknown as { createdAt: string }).createdAt).toBe('string');
  });

  it('without afterSeq, sends only what is new', async () => {
    const alice = await signUp(app.url);
    const chatId = await createChat(app.url, alice);
    await sendMessage(app.url, alice, chatId, 'old');
    const live = messages(open(alice.token), chatId);
    // The subscription becomes live asynchronously: probe until one probe arrives, then everything after does.
    for (let i = 0; live.data.length === 0 && i < 50; i++) {
      await sendMessage(app.url, alice, chatId, `probe ${i}`);
      await live.count(1, 300).catch(() => undefined);
    }
    const first = live.data[0].seq;
    expect(first).toBeGreaterThan(1);
    await sendMessage(app.url, alice, chatId, 'new');
    await live.until(() => live.data.some((m) => m.content === 'new'), 'the new message');
    const seqs = live.data.map((m) => m.seq);
    expect(seqs).toEqual(seqRange(first, first + seqs.length - 1));
    expect(live.data.map((m) => m.content)).not.toContain('old');
  });

  it('resumes exactly after a disconnect with 30 messages sent meanwhile', async () => {
    const [alice, bob] = await Promise.all([signUp(app.url), signUp(app.url)]);
    const chatId = await createChat(app.url, alice);
    await joinChat(app.url, bob, chatId);
    const first = open(bob.token);
    const before = messages(first, chatId, 0);
    for (let i = 1; i <= 5; i++) await sendMessage(app.url, alice, chatId, `before ${i}`);
    await before.count(5);
    await first.dispose();
    const lastSeen = before.data.at(-1)!.seq;
    for (let i = 1; i <= 30; i++) await sendMessage(app.url, alice, chatId, `meanwhile ${i}`);
    const resumed = messages(open(bob.token), chatId, lastSeen);
    await resumed.count(30);
    for (let i = 1; i <= 3; i++) await sendMessage(app.url, alice, chatId, `after ${i}`);
    await resumed.count(33);
    expect(resumed.data.map((m) => m.seq)).toEqual(seqRange(6, 38));
    expect(resumed.data[0].content).toBe('meanwhile 1');
  });

  it('refuses a non-member with FORBIDDEN and a bad afterSeq with BAD_USER_INPUT', async () => {
    const [alice, eve] = await Promise.all([signUp(app.url), signUp(app.url)]);
    const chatId = await createChat(app.url, alice, 'private', true);
    const forbidden = messages(open(eve.token), chatId);
    expect((await forbidden.firstError()).extensions?.code).toBe('FORBIDDEN');
    const missing = messages(open(alice.token), '00000000-0000-4000-8000-000000000000');
    expect((await missing.firstError()).extensions?.code).toBe('NOT_FOUND');
    const negative = messages(open(alice.token), chatId, -1);
    expect((await negative.firstError()).extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('answers a crowd of subscriptions opened at once, members and not, each with its own chat and start', async () => {
    // Lookups asked together share one query (concurrentBatch): every asker must still get its own answer.
    const owners = await Promise.all([0, 1, 2].map(() => signUp(app.url)));
    const chatIds = await Promise.all(owners.map((owner, i) => createChat(app.url, owner, `crowd ${i}`, true)));
    for (const [i, chatId] of chatIds.entries()) {
      for (let n = 0; n <= i; n++) await sendMessage(app.url, owners[i], chatId, `earlier ${n}`);
    }
    const users = await Promise.all(Array.from({ length: 9 }, () => signUp(app.url)));
    // User u is a member of chat c when (u + c) is even; the owners of the private chats add them.
    const isMember = (u: number, c: number) => (u + c) % 2 === 0;
    for (const [u, user] of users.entries()) {
      for (const [c, chatId] of chatIds.entries()) {
        if (isMember(u, c)) {
          ok(
            await gql(
              app.url,
              'mutation($c: ID!, $u: ID!) { addMember(chatId: $c, userId: $u) { id } }',
              { c: chatId, u: user.id },
              owners[c].token,
            ),
          );
        }
      }
    }
    const subscriptions = users.flatMap((user, u) => {
      const handle = open(user.token);
      return chatIds.map((chatId, c) => ({ u, c, recorder: messages(handle, chatId) }));
    });
    for (const { u, c, recorder } of subscriptions) {
      if (!isMember(u, c)) expect((await recorder.firstError()).extensions?.code).toBe('FORBIDDEN');
    }
    const live = subscriptions.filter(({ u, c }) => isMember(u, c));
    // Each chat's next message, sent until every member's subscription has it (they go live asynchronously).
    for (const [c, chatId] of chatIds.entries()) {
      const members = live.filter((s) => s.c === c);
      for (let n = 0; members.some((s) => s.recorder.data.length === 0); n++) {
        expect(n).toBeLessThan(50);
        await sendMessage(app.url, owners[c], chatId, `now ${n}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // Started at its own chat's last seq (c + 1 messages before), so the first delivery is seq c + 2 or later.
    for (const { c, recorder } of live) {
      expect(recorder.errors).toEqual([]);
      expect((recorder.data[0] as unknown as { chatId: string }).chatId).toBe(chatIds[c]);
      expect(recorder.data[0].seq).toBeGreaterThanOrEqual(c + 2);
      expect(recorder.data.map((m) => m.seq)).toEqual(seqRange(recorder.data[0].seq, recorder.data.at(-1)!.seq));
    }
  });

  it('lets queries and mutations run over the WebSocket with the same context', async () => {
    const alice = await signUp(app.url, 'Alice');
    const handle = open(alice.token);
    const me = await new Promise<unknown>((resolve, reject) => {
      handle.client.subscribe(
        { query: '{ me { id firstName } }' },
        { next: resolve, error: reject, complete: () => undefined },
      );
    });
    expect(me).toEqual({ data: { me: { id: alice.id, firstName: 'Alice' } } });
  });
});

describe.each<[string, RedisKind]>([
  ['one Redis', 'node'],
  ['Redis Cluster', 'cluster'],
])('live messages across two instances (PostgreSQL + %s)', (_name, redisKind) => {
  let redis: { url: string; stop: () => Promise<void> };
  let db: TestDatabase;
  let a: AppProcess;
  let b: AppProcess;
  let alice: TestUser;
  let bob: TestUser;
  const handles: WsClientHandle[] = [];
  const open = (app: AppProcess, token?: string | null, authorization?: string) => {
    const handle = connect(app.wsUrl, token, authorization);
    handles.push(handle);
    return handle;
  };

  beforeAll(async () => {
    [db, redis] = await Promise.all([TestDatabase.create(), startRedis(redisKind)]);
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      RATE_LIMIT_MESSAGES_BURST: '1000',
      RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
    };
    [a, b] = await Promise.all([AppProcess.start(env), AppProcess.start(env)]);
    [alice, bob] = await Promise.all([signUp(a.url, 'Alice'), signUp(b.url, 'Bob')]);
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([db?.drop(), redis?.stop()]);
  });

  it('delivers across instances, each message once, whichever instance it was sent to', async () => {
    const chatId = await createChat(a.url, alice);
    await joinChat(b.url, bob, chatId);
    const onA = messages(open(a, alice.token), chatId, 0);
    const onB = messages(open(b, bob.token), chatId, 0);
    await sendMessage(a.url, alice, chatId, 'from a');
    await sendMessage(b.url, bob, chatId, 'from b');
    await Promise.all([onA.count(2), onB.count(2)]);
    expect(onA.data.map((m) => m.content)).toEqual(['from a', 'from b']);
    expect(onB.data.map((m) => m.content)).toEqual(['from a', 'from b']);
  });

  it('delivers 200 rapid messages complete and in order on both instances', async () => {
    const chatId = await createChat(a.url, alice);
    await joinChat(a.url, bob, chatId);
    const recorders: Recorder<{ seq: number }>[] = [
      messages(open(a, alice.token), chatId, 0),
      messages(open(b, bob.token), chatId, 0),
      messages(open(b, alice.token), chatId, 0),
    ];
    // Ten concurrent senders, alternating instances: the order is decided by commit, not by arrival.
    const senders = Array.from({ length: 10 }, async (_, s) => {
      for (let i = 0; i < 20; i++) {
        const app = (s + i) % 2 ? a : b;
        await sendMessage(app.url, s % 2 ? alice : bob, chatId, `s${s}-${i}`);
      }
    });
    await Promise.all(senders);
    await Promise.all(recorders.map((r) => r.count(200)));
    for (const r of recorders) expect(r.data.map((m) => m.seq)).toEqual(seqRange(1, 200));
  });

  it('ends a subscription on the other instance at once when its member leaves the chat', async () => {
    const chatId = await createChat(a.url, alice);
    await joinChat(a.url, bob, chatId);
    const bobsOnB = messages(open(b, bob.token), chatId, 0);
    const alicesOnB = messages(open(b, alice.token), chatId, 0);
    await sendMessage(a.url, alice, chatId, 'one');
    await bobsOnB.count(1);
    ok(await gql(a.url, 'mutation($id: ID!) { leaveChat(chatId: $id) }', { id: chatId }, bob.token));
    await bobsOnB.done();
    await sendMessage(a.url, alice, chatId, 'two');
    await alicesOnB.count(2);
    expect(bobsOnB.data.map((m) => m.content)).toEqual(['one']);
  });

  it('closes the socket with 4403 when connection_init has no token or a bad one', async () => {
    expect((await open(a, null).closed).code).toBe(4403);
    expect((await open(b, 'not-a-token').closed).code).toBe(4403);
    expect((await open(a, undefined, 'Basic dXNlcjpwYXNz').closed).code).toBe(4403);
  });

  it('applies the depth and complexity limits over the WebSocket as over HTTP', async () => {
    const deep = `subscription { messageAdded(chatId: "x") { user { id { a { b { c { d { e { f { g { h { i { j } } } } } } } } } } } } }`;
    const handle = open(a, alice.token);
    const errors = await new Promise<{ message: string; extensions?: { code?: string } }[]>((resolve) => {
      handle.client.subscribe(
        { query: deep },
        { next: () => undefined, error: (e) => resolve(e as never), complete: () => undefined },
      );
    });
    expect(errors[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(errors.map((e) => e.message).join()).toMatch(/deeper than the limit/);
    const http = await gql(
      a.url,
      deep.replace('subscription', 'query').replace('messageAdded(chatId: "x")', 'me'),
      {},
      alice.token,
    );
    expect(http.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const wide = `query { ${Array.from({ length: 3 }, (_, i) => `a${i}: chats { messages(last: 100) { edges { node { id } } } }`).join(' ')} }`;
    const tooComplex = await new Promise<{ extensions?: { code?: string } }[]>((resolve) => {
      handle.client.subscribe(
        { query: wide },
        { next: () => undefined, error: (e) => resolve(e as never), complete: () => undefined },
      );
    });
    expect(tooComplex[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const syntax = await new Promise<{ extensions?: { code?: string } }[]>((resolve) => {
      handle.client.subscribe(
        { query: 'subscription {' },
        { next: () => undefined, error: (e) => resolve(e as never), complete: () => undefined },
      );
    });
    expect(syntax[0].extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    // The connection survived all of that.
    const chatId = await createChat(a.url, alice);
    const still = messages(handle, chatId, 0);
    await sendMessage(a.url, alice, chatId, 'still here');
    await still.count(1);
  });
});
