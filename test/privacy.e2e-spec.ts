import { AppProcess, readMetric } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import { connect, Recorder, WsClientHandle } from './support/ws';

interface LiveMessage {
  seq: number;
  user: { id: string; email: string | null };
}

interface Meta {
  userId: string;
  email: string | null;
}

/** No operation shows a user's email to anyone but that user: queries, subscriptions, shared encodings. */
describe("other users' emails", () => {
  let db: TestDatabase;
  let app: AppProcess;
  let ann: TestUser;
  let bob: TestUser;
  let chatId: string;
  const sockets: WsClientHandle[] = [];

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
    ann = await signUp(app.url, 'Ann');
    bob = await signUp(app.url, 'Bob');
    chatId = await createChat(app.url, ann, 'private lives');
    await joinChat(app.url, bob, chatId);
  });

  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.dispose()));
    await app?.stop();
    await db?.drop();
  });

  it('shows the viewer its own email and null for everyone else in queries', async () => {
    // signUp's own answer carries the new user's email (support/gql reads it from there).
    expect(ann.email).toMatch(/@example\.com$/);
    const asBob = ok(
      await gql<{ me: { email: string }; chat: { members: { id: string; email: string | null }[] } }>(
        app.url,
        'query($id: ID!) { me { email } chat(id: $id) { members { id email } } }',
        { id: chatId },
        bob.token,
      ),
    );
    expect(asBob.me.email).toBe(bob.email);
    expect(Object.fromEntries(asBob.chat.members.map((m) => [m.id, m.email]))).toEqual({
      [ann.id]: null,
      [bob.id]: bob.email,
    });
    const signedIn = ok(
      await gql<{ signIn: { user: { email: string } } }>(
        app.url,
        'mutation($input: SignInInput!) { signIn(input: $input) { user { email } } }',
        { input: { email: ann.email, password: 'correct horse battery' } },
      ),
    );
    expect(signedIn.signIn.user.email).toBe(ann.email);
  });

  it('shares one encoding per message between viewers, and still shows each only its own email', async () => {
    const query = `subscription($chatId: ID!) { messageAdded(chatId: $chatId, afterSeq: 0) { seq user { id email } } }`;
    const open = (user: TestUser) => {
      const socket = connect(app.wsUrl, user.token);
      sockets.push(socket);
      return new Recorder<LiveMessage>(socket, query, { chatId }, (d) => d.messageAdded as LiveMessage);
    };
    const [annSees, bobSees, bobAgain] = [open(ann), open(bob), open(bob)];
    const all = [annSees, bobSees, bobAgain];
    // Probe until every subscription is live, so that what follows comes from the bus, shared, not read back.
    let settled = 0;
    for (let i = 1; !settled && i <= 50; i++) {
      const probe = await sendMessage(app.url, ann, chatId, `probe ${i}`);
      settled = await Promise.all(
        all.map((r) => r.until(() => r.data.some((m) => m.seq === probe.seq), `seq ${probe.seq}`, 500)),
      ).then(
        () => probe.seq,
        () => 0,
      );
    }
    const before = await readMetric(app.url, 'chat_event_encodings_total');

    await sendMessage(app.url, ann, chatId, 'from Ann');
    const last = await sendMessage(app.url, bob, chatId, 'from Bob');
    await Promise.all(all.map((r) => r.until(() => r.data.some((m) => m.seq === last.seq), 'the last message')));
    const emails = (recorder: Recorder<LiveMessage>) =>
      recorder.data.filter((m) => m.seq > settled).map((m) => m.user.email);
    expect(emails(annSees)).toEqual([ann.email, null]);
    expect(emails(bobSees)).toEqual([null, bob.email]);
    expect(emails(bobAgain)).toEqual([null, bob.email]);
    // Two messages, one selection: two encodings for three subscribers.
    expect((await readMetric(app.url, 'chat_event_encodings_total')) - before).toBe(2);
  });

  it("gives no one else's email in presence metas", async () => {
    const query = `subscription($chatId: ID!) {
      presence(chatId: $chatId) { kind presences { metas { userId email } } joins { metas { userId email } } }
    }`;
    const annSocket = connect(app.wsUrl, ann.token);
    const bobSocket = connect(app.wsUrl, bob.token);
    sockets.push(annSocket, bobSocket);
    type Event = { presences: { metas: Meta[] }[]; joins: { metas: Meta[] }[] };
    const annSees = new Recorder<Event>(annSocket, query, { chatId }, (d) => d.presence as Event);
    const metasOf = (event: Event) => [...event.presences, ...event.joins].flatMap((p) => p.metas);
    await annSees.until(() => annSees.data.some((e) => metasOf(e).some((m) => m.userId === ann.id)), "Ann's meta");
    const bobSees = new Recorder<Event>(bobSocket, query, { chatId }, (d) => d.presence as Event);
    await bobSees.until(() => bobSees.data.some((e) => metasOf(e).some((m) => m.userId === ann.id)), "Ann's meta");
    await annSees.until(() => annSees.data.some((e) => metasOf(e).some((m) => m.userId === bob.id)), "Bob's meta");

    for (const [viewer, recorder] of [
      [ann, annSees],
      [bob, bobSees],
    ] as const) {
      for (const meta of recorder.data.flatMap(metasOf)) {
        expect([viewer.id, meta.userId, meta.email]).toEqual([
          viewer.id,
          meta.userId,
          meta.userId === viewer.id ? viewer.email : null,
        ]);
      }
    }
  });
});
