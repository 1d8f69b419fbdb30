import { AppProcess, readMetric } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, errorCode, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import {
  applyEvents,
  describe as describeMetas,
  eventually,
  flatten,
  presence,
  PresenceEvent,
  readPresence,
} from './support/presence';
import { RedisKind, startRedis } from './support/redis-cluster';
import { connect, WsClientHandle } from './support/ws';

const SET_TYPING = 'mutation($c: ID!, $t: Boolean!, $r: ID) { setTyping(chatId: $c, typing: $t, ref: $r) }';

describe.each<[string, RedisKind | null]>([
  ['two instances on Redis', 'node'],
  ['two instances on Redis Cluster', 'cluster'],
  ['one instance, in process', null],
])('presence (%s)', (_name, redisKind) => {
  const useRedis = redisKind !== null;
  let redis: { url: string; stop: () => Promise<void> } | undefined;
  let db: TestDatabase;
  let a: AppProcess;
  let b: AppProcess;
  let alice: TestUser;
  let bob: TestUser;
  const handles: WsClientHandle[] = [];
  const open = (app: AppProcess, user: TestUser) => {
    const handle = connect(app.wsUrl, user.token);
    handles.push(handle);
    return handle;
  };

  beforeAll(async () => {
    [db, redis] = await Promise.all([TestDatabase.create(), redisKind ? startRedis(redisKind) : undefined]);
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis?.url,
      PRESENCE_TYPING_TIMEOUT_MS: '1500',
      RATE_LIMIT_TYPING_BURST: '100',
    };
    a = await AppProcess.start(env);
    b = useRedis ? await AppProcess.start(env) : a;
    [alice, bob] = await Promise.all([signUp(a.url, 'Alice'), signUp(a.url, 'Bob')]);
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
  });

  afterAll(async () => {
    await a?.stop();
    if (b !== a) await b?.stop();
    await Promise.all([db?.drop(), redis?.stop()]);
  });

  async function sharedChat(): Promise<string> {
    const chatId = await createChat(a.url, alice);
    await joinChat(a.url, bob, chatId);
    return chatId;
  }

  /** Every subscriber's applied view equals chat.presence read over HTTP from every instance. */
  async function expectConverged(chatId: string, recorders: ReturnType<typeof presence>[], expectedMetas: number) {
    const truth = await eventually(
      () => readPresence(a.url, alice.token, chatId),
      (groups) => flatten(groups).length === expectedMetas,
    );
    const expected = describeMetas(flatten(truth));
    await eventually(
      () => readPresence(b.url, bob.token, chatId),
      (groups) => JSON.stringify(describeMetas(flatten(groups))) === JSON.stringify(expected),
    );
    for (const recorder of recorders) {
      await recorder.until(
        () => JSON.stringify(describeMetas(applyEvents(recorder.data).values())) === JSON.stringify(expected),
        `the subscriber's view to match ${JSON.stringify(expected)}`,
      );
    }
    return truth;
  }

  it('starts with STATE including its own meta and selfRef; two tabs are two metas under one key', async () => {
    const chatId = await sharedChat();
    const tab1 = presence(open(a, alice), chatId);
    await tab1.count(1);
    const state = tab1.data[0];
    expect(state.kind).toBe('STATE');
    expect(state.selfRef).toEqual(expect.any(String));
    expect(state.presences).toEqual([
      {
        key: alice.id,
        metas: [
          expect.objectContaining({
            ref: state.selfRef,
            refPrev: null,
            userId: alice.id,
            firstName: 'Alice',
            typing: false,
          }),
        ],
      },
    ]);

    const tab2 = presence(open(b, alice), chatId);
    await tab2.count(1);
    expect(tab2.data[0].presences).toHaveLength(1);
    expect(tab2.data[0].presences[0].metas).toHaveLength(2);
    await tab1.until(
      () => tab1.data.some((e) => e.kind === 'DIFF' && e.joins[0]?.metas[0]?.ref === tab2.data[0].selfRef),
      'tab 2 joining',
    );

    const watcher = presence(open(b, bob), chatId, false);
    await watcher.count(1);
    expect(watcher.data[0].selfRef).toBeNull();
    const truth = await expectConverged(chatId, [tab1, tab2, watcher], 2);
    expect(truth.map((group) => [group.key, group.metas.length])).toEqual([[alice.id, 2]]);
  });

  it('gives every subscriber each DIFF with its own selfRef, encoded once for all of them per selection', async () => {
    const chatId = await sharedChat();
    const tabs = [presence(open(a, alice), chatId), presence(open(a, alice), chatId)];
    const watcher = presence(open(a, bob), chatId, false);
    const local = [...tabs, watcher];
    await Promise.all(local.map((recorder) => recorder.count(1)));
    await expectConverged(chatId, local, 2);
    const before = await readMetric(a.url, 'chat_event_encodings_total');

    const bobTab = presence(open(b, bob), chatId);
    await bobTab.count(1);
    const joined = bobTab.data[0].selfRef!;
    const bobJoining = (e: PresenceEvent) => e.kind === 'DIFF' && e.joins[0]?.metas[0]?.ref === joined;
    for (const recorder of local) await recorder.until(() => recorder.data.some(bobJoining), 'bob joining');
    const diffs = local.map((recorder) => recorder.data.find(bobJoining)!);
    expect(diffs.map((diff) => diff.selfRef)).toEqual([tabs[0].data[0].selfRef, tabs[1].data[0].selfRef, null]);
    expect(new Set(diffs.map((diff) => diff.selfRef)).size).toBe(3);
    for (const diff of diffs) expect({ ...diff, selfRef: undefined }).toEqual({ ...diffs[0], selfRef: undefined });
    // One encoding of the DIFF for the three subscribers on a; on one instance, bob's own STATE is encoded there too.
    expect((await readMetric(a.url, 'chat_event_encodings_total')) - before).toBe(useRedis ? 1 : 2);
  });

  it("removes exactly the closed socket's meta, and the leaver's metas on leaveChat", async () => {
    const chatId = await sharedChat();
    const aliceTab = open(a, alice);
    const alicePresence = presence(aliceTab, chatId);
    const bobTab1 = presence(open(b, bob), chatId);
    const bobTab2Handle = open(a, bob);
    const bobTab2 = presence(bobTab2Handle, chatId);
    await Promise.all([alicePresence.count(1), bobTab1.count(1), bobTab2.count(1)]);
    await expectConverged(chatId, [alicePresence, bobTab1], 3);

    await bobTab2Handle.dispose();
    const afterClose = await expectConverged(chatId, [alicePresence, bobTab1], 2);
    expect(describeMetas(flatten(afterClose))).not.toContainEqual(expect.stringContaining(bobTab2.data[0].selfRef!));

    ok(await gql(b.url, 'mutation($id: ID!) { leaveChat(chatId: $id) }', { id: chatId }, bob.token));
    await bobTab1.done();
    await alicePresence.until(
      () => !describeMetas(applyEvents(alicePresence.data).values()).some((d) => d.startsWith(bob.id)),
      'bob gone',
    );
    const truth = await eventually(
      () => readPresence(a.url, alice.token, chatId),
      (g) => flatten(g).length === 1,
    );
    expect(truth.map((g) => g.key)).toEqual([alice.id]);
  });

  it('leaves no meta behind when members leave or are removed while their subscriptions start', async () => {
    const chatId = await createChat(a.url, alice);
    const people = await Promise.all(Array.from({ length: 8 }, (_, i) => signUp(a.url, `Racer${i}`)));
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        people.map(async (person, i) => {
          await joinChat(a.url, person, chatId);
          const app = i % 2 ? b : a;
          const subscription = presence(open(app, person), chatId);
          // Leaving lands anywhere from before the subscription is admitted to after its STATE.
          await new Promise((resolve) => setTimeout(resolve, (i + round * 3) % 8));
          const leave =
            i % 3 === 0
              ? gql(
                  a.url,
                  'mutation($c: ID!, $u: ID!) { removeMember(chatId: $c, userId: $u) }',
                  { c: chatId, u: person.id },
                  alice.token,
                )
              : gql(app.url, 'mutation($id: ID!) { leaveChat(chatId: $id) }', { id: chatId }, person.token);
          ok(await leave);
          await subscription.done();
        }),
      );
    }
    // Nobody is left but Alice, who is not present here: not one meta, on either instance.
    for (const app of [a, b]) {
      await eventually(
        () => readPresence(app.url, alice.token, chatId),
        (groups) => groups.length === 0,
      );
    }
    // Nor a replica of the chat, with its bus subscription, held for a subscription that has ended.
    for (const app of new Set([a, b])) {
      await eventually(
        () => readMetric(app.url, 'chat_presence_replicas'),
        (replicas) => replicas === 0,
      );
    }
  });

  it('makes setTyping one DIFF with refPrev, publishes nothing for the same value, and lapses by itself', async () => {
    const chatId = await sharedChat();
    const bobView = presence(open(b, bob), chatId, false);
    const aliceTab = presence(open(a, alice), chatId);
    await aliceTab.count(1);
    const selfRef = aliceTab.data[0].selfRef!;
    await bobView.until(() => applyEvents(bobView.data).has(selfRef), 'alice present');
    const before = bobView.data.length;

    // From the other instance than the one that holds the meta.
    expect(
      ok(await gql<{ setTyping: boolean }>(b.url, SET_TYPING, { c: chatId, t: true }, alice.token)).setTyping,
    ).toBe(true);
    await bobView.count(before + 1);
    const diff = bobView.data[before];
    expect(diff.kind).toBe('DIFF');
    expect(diff.leaves).toEqual([{ key: alice.id, metas: [expect.objectContaining({ ref: selfRef, typing: false })] }]);
    expect(diff.joins).toEqual([
      { key: alice.id, metas: [expect.objectContaining({ refPrev: selfRef, typing: true })] },
    ]);
    const typingRef = diff.joins[0].metas[0].ref;
    expect(typingRef).not.toBe(selfRef);

    // The same value again: renews, changes nothing, publishes nothing.
    expect(
      ok(await gql<{ setTyping: boolean }>(a.url, SET_TYPING, { c: chatId, t: true }, alice.token)).setTyping,
    ).toBe(false);
    // Lapse: typing goes back to false by itself, as one more DIFF.
    await bobView.until(() => bobView.data.length >= before + 2, 'the lapse', 10_000);
    const lapse = bobView.data[before + 1];
    expect(lapse.joins[0].metas[0]).toMatchObject({ refPrev: typingRef, typing: false });
    expect(bobView.data).toHaveLength(before + 2);
    await expectConverged(chatId, [bobView, aliceTab], 1);

    // A member with no meta gets false; a non-member FORBIDDEN; a bad ref BAD_USER_INPUT.
    expect(ok(await gql<{ setTyping: boolean }>(a.url, SET_TYPING, { c: chatId, t: true }, bob.token)).setTyping).toBe(
      false,
    );
    const eve = await signUp(a.url);
    expect(errorCode(await gql(a.url, SET_TYPING, { c: chatId, t: true }, eve.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(a.url, SET_TYPING, { c: chatId, t: true, r: 'x'.repeat(101) }, alice.token))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('targets one meta by ref, and sending a message clears typing', async () => {
    const chatId = await sharedChat();
    const tab1 = presence(open(a, alice), chatId);
    const tab2 = presence(open(b, alice), chatId);
    await Promise.all([tab1.count(1), tab2.count(1)]);
    const view = presence(open(b, bob), chatId, false);
    await view.until(() => applyEvents(view.data).size === 2, 'both tabs');
    const ref1 = tab1.data[0].selfRef!;
    expect(
      ok(await gql<{ setTyping: boolean }>(a.url, SET_TYPING, { c: chatId, t: true, r: ref1 }, alice.token)).setTyping,
    ).toBe(true);
    await view.until(
      () => [...applyEvents(view.data).values()].filter((m) => m.typing).length === 1,
      'one typing meta',
    );
    const typingMeta = [...applyEvents(view.data).values()].find((m) => m.typing)!;
    expect(typingMeta.refPrev).toBe(ref1);
    await sendMessage(b.url, alice, chatId, 'done typing');
    await view.until(() => [...applyEvents(view.data).values()].every((m) => !m.typing), 'typing cleared');
    await expectConverged(chatId, [view, tab1, tab2], 2);
  });

  it('refuses presence to non-members', async () => {
    const chatId = await createChat(a.url, alice, 'private', true);
    const sub = presence(open(a, bob), chatId);
    expect((await sub.firstError()).extensions?.code).toBe('FORBIDDEN');
    expect(
      errorCode(await gql(a.url, 'query($id: ID!) { chat(id: $id) { presence { key } } }', { id: chatId }, bob.token)),
    ).toBe('FORBIDDEN');
  });
});

describe('sending a message clears typing (two instances, no lapse in sight)', () => {
  let db: TestDatabase;
  let a: AppProcess;
  let b: AppProcess;
  const handles: WsClientHandle[] = [];
  const open = (app: AppProcess, user: TestUser) => {
    const handle = connect(app.wsUrl, user.token);
    handles.push(handle);
    return handle;
  };

  beforeAll(async () => {
    db = await TestDatabase.create();
    // Typing would lapse only after ten minutes: whatever clears it here is the message.
    const env = { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, PRESENCE_TYPING_TIMEOUT_MS: '600000' };
    [a, b] = await Promise.all([AppProcess.start(env), AppProcess.start(env)]);
  });

  afterAll(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  it("clears the author's typing metas on every instance in one DIFF", async () => {
    const [alice, bob] = await Promise.all([signUp(a.url, 'Alice'), signUp(a.url, 'Bob')]);
    const chatId = await createChat(a.url, alice);
    await joinChat(a.url, bob, chatId);
    const tabs = [presence(open(a, alice), chatId), presence(open(b, alice), chatId)];
    await Promise.all(tabs.map((tab) => tab.count(1)));
    const view = presence(open(b, bob), chatId, false);
    const typing = () => [...applyEvents(view.data).values()].filter((m) => m.typing).length;
    await view.until(() => applyEvents(view.data).size === 2, 'both tabs');

    expect(ok(await gql<{ setTyping: boolean }>(a.url, SET_TYPING, { c: chatId, t: true }, alice.token))).toEqual({
      setTyping: true,
    });
    await view.until(() => typing() === 2, 'both tabs typing');
    const before = view.data.length;

    await sendMessage(b.url, alice, chatId, 'sent, so no longer typing');
    await view.until(() => typing() === 0, 'typing cleared by the message');
    const clearing = view.data.slice(before);
    expect(clearing).toHaveLength(1);
    expect(clearing[0].joins.flatMap((g) => g.metas).map((m) => m.typing)).toEqual([false, false]);
  });
});
