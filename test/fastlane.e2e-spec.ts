import { AppProcess, readMetric } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, joinChat, sendMessage, signUp } from './support/gql';
import { connect, MESSAGE_ADDED, Recorder, WsClientHandle } from './support/ws';

/** messageAdded events are executed once per selection set and shared; what each subscriber gets is unchanged. */
describe('fastlane delivery of messageAdded', () => {
  let db: TestDatabase;
  let app: AppProcess;
  const handles: WsClientHandle[] = [];
  const open = (token: string) => {
    const handle = connect(app.wsUrl, token);
    handles.push(handle);
    return handle;
  };
  const encodings = () => readMetric(app.url, 'chat_event_encodings_total');

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      RATE_LIMIT_MESSAGES_BURST: '1000',
    });
  });

  afterAll(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
    await app?.stop();
    await db?.drop();
  });

  it('executes each event once per selection, and gives every subscriber the result the normal path gives', async () => {
    const users = await Promise.all(['Ann', 'Ben', 'Cat', 'Dan'].map((name) => signUp(app.url, name)));
    const chatId = await createChat(app.url, users[0]);
    for (const user of users.slice(1)) await joinChat(app.url, user, chatId);

    type Row = Record<string, unknown>;
    // Four sockets with the same document share one encoding per event.
    const subscribe = (token: string, query: string, variables: Record<string, unknown>, field = 'messageAdded') =>
      new Recorder<Row>(open(token), query, { chatId, afterSeq: 0, ...variables }, (d) => d[field] as Row);
    // Four sockets with the same document share one encoding per event.
    const shared = users.map((user) => subscribe(user.token, MESSAGE_ADDED, {}));
    // Another selection (with an alias and a fragment) is a second encoding.
    const other = subscribe(
      users[1].token,
      `subscription($chatId: ID!, $afterSeq: Int) { added: messageAdded(chatId: $chatId, afterSeq: $afterSeq) { ...Brief } }
       fragment Brief on Message { seq content author: user { firstName } }`,
      {},
      'added',
    );
    // A selection that reads a variable cannot be shared: it takes graphql-js's own path, per subscriber.
    const variable = subscribe(
      users[2].token,
      `subscription($chatId: ID!, $afterSeq: Int, $withUser: Boolean!) {
         messageAdded(chatId: $chatId, afterSeq: $afterSeq) {
           id seq content chatId createdAt user @include(if: $withUser) { id firstName }
         }
       }`,
      { withUser: true },
    );
    const all = [...shared, other, variable];
    const received = (seq: number, timeoutMs?: number) =>
      Promise.all(all.map((r) => r.until(() => r.data.some((m) => m.seq === seq), `seq ${seq}`, timeoutMs)));
    // Probe until every subscription is live, so what follows is delivered from the bus, not read back.
    let settled = 0;
    for (let i = 1; !settled && i <= 50; i++) {
      const probe = await sendMessage(app.url, users[0], chatId, `probe ${i}`);
      settled = await received(probe.seq, 500).then(
        () => probe.seq,
        () => 0,
      );
    }
    expect(settled).toBeGreaterThan(0);

    const before = await encodings();
    const count = 10;
    let last = settled;
    for (let i = 1; i <= count; i++) last = (await sendMessage(app.url, users[i % 4], chatId, `message ${i}`)).seq;
    await received(last);
    expect((await encodings()) - before).toBe(2 * count);

    const fresh = (r: Recorder<Row>) => r.data.filter((m) => (m.seq as number) > settled);
    for (const recorder of all) expect(fresh(recorder).map((m) => m.seq)).toEqual(fresh(variable).map((m) => m.seq));
    for (const recorder of shared) expect(fresh(recorder)).toEqual(fresh(variable));
    expect(fresh(other)[0]).toEqual({
      seq: fresh(variable)[0].seq,
      content: 'message 1',
      author: { firstName: 'Ben' },
    });
    expect(fresh(variable)[0]).toMatchObject({ content: 'message 1', chatId, user: { id: users[1].id } });
  });

  it('completes a fastlane subscription when the subscriber leaves, and stops it when the client completes', async () => {
    const [ann, ben] = await Promise.all([signUp(app.url, 'Ann'), signUp(app.url, 'Ben')]);
    const chatId = await createChat(app.url, ann);
    await joinChat(app.url, ben, chatId);
    const pick = (d: Record<string, unknown>) => d.messageAdded as { seq: number };
    const leaver = new Recorder(open(ben.token), MESSAGE_ADDED, { chatId, afterSeq: 0 }, pick);
    const stopper = new Recorder(open(ann.token), MESSAGE_ADDED, { chatId, afterSeq: 0 }, pick);
    await sendMessage(app.url, ann, chatId, 'one');
    await Promise.all([leaver.count(1), stopper.count(1)]);

    stopper.unsubscribe();
    const res = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ben.token}` },
      body: JSON.stringify({ query: `mutation($id: ID!) { leaveChat(chatId: $id) }`, variables: { id: chatId } }),
    });
    expect(((await res.json()) as { data: unknown }).data).toEqual({ leaveChat: true });
    await leaver.done();
    expect(leaver.errors).toEqual([]);

    await sendMessage(app.url, ann, chatId, 'two');
    const watcher = new Recorder(open(ann.token), MESSAGE_ADDED, { chatId, afterSeq: 0 }, pick);
    await watcher.count(2);
    expect(stopper.data.map((m) => m.seq)).toEqual([1]);
    expect(leaver.data.map((m) => m.seq)).toEqual([1]);
  });
});
