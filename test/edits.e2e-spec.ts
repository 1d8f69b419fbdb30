import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, errorCode, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import { TestRedis } from './support/redis-server';
import { connect, messages, Recorder, WsClientHandle } from './support/ws';

jest.setTimeout(90_000);

const EDIT = 'mutation($id: ID!, $c: String!) { editMessage(id: $id, content: $c) { content editedAt revision } }';
const DELETE = 'mutation($id: ID!) { deleteMessage(id: $id) { content deletedAt revision } }';

interface Change {
  id: string;
  seq: number;
  content: string;
  revision: number;
  deletedAt: string | null;
}

function changes(handle: WsClientHandle, chatId: string, afterRevision?: number): Recorder<Change> {
  return new Recorder<Change>(
    handle,
    `subscription($c: ID!, $r: Int) {
      messageChanged(chatId: $c, afterRevision: $r) { id seq content revision deletedAt }
    }`,
    { c: chatId, r: afterRevision },
    (data) => data.messageChanged as Change,
  );
}

describe('editing and deleting messages', () => {
  let db: TestDatabase;
  let redis: TestRedis;
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

  beforeAll(async () => {
    db = await TestDatabase.create();
    redis = await TestRedis.start();
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, RATE_LIMIT_MESSAGES_PER_SECOND: '1000' };
    [a, b] = await Promise.all([AppProcess.start(env), AppProcess.start(env)]);
    [ann, bob] = await Promise.all([signUp(a.url, 'Ann'), signUp(a.url, 'Bob')]);
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    await db?.drop();
  });

  it('lets the author edit and the author or the owner delete; everything else changes nothing', async () => {
    const chatId = await createChat(a.url, ann, 'edits');
    await joinChat(a.url, bob, chatId);
    const annsId = (await sendMessage(a.url, ann, chatId, 'hello')).id;
    const bobsId = (await sendMessage(a.url, bob, chatId, 'hi')).id;
    const carol = await signUp(a.url, 'Carol');

    expect(errorCode(await gql(a.url, EDIT, { id: annsId, c: 'mine now' }, bob.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(a.url, EDIT, { id: annsId, c: 'mine' }, carol.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(a.url, EDIT, { id: annsId, c: ' \u200b ' }, ann.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(a.url, EDIT, { id: '00000000-0000-4000-8000-000000000000', c: 'x' }, ann.token))).toBe(
      'NOT_FOUND',
    );
    expect(errorCode(await gql(a.url, DELETE, { id: annsId }, bob.token))).toBe('FORBIDDEN');
    const [untouched] = await db.query<{ content: string; revision: number }>(
      'SELECT content, revision FROM messages WHERE id = $1',
      [annsId],
    );
    expect(untouched).toEqual({ content: 'hello', revision: 0 });

    const edited = ok(
      await gql<{ editMessage: Change & { editedAt: string } }>(
        a.url,
        EDIT,
        { id: annsId, c: ' hello, all ' },
        ann.token,
      ),
    ).editMessage;
    expect(edited).toMatchObject({ content: 'hello, all', revision: 1 });
    expect(edited.editedAt).toEqual(expect.any(String));
    // The owner deletes Bob's message; deleting again changes nothing; a deleted message cannot be edited.
    const deleted = ok(await gql<{ deleteMessage: Change }>(b.url, DELETE, { id: bobsId }, ann.token)).deleteMessage;
    expect(deleted).toMatchObject({ content: '', revision: 2 });
    expect(ok(await gql<{ deleteMessage: Change }>(a.url, DELETE, { id: bobsId }, bob.token)).deleteMessage).toEqual(
      deleted,
    );
    expect(errorCode(await gql(a.url, EDIT, { id: bobsId, c: 'back' }, bob.token))).toBe('CONFLICT');

    // History and a messageAdded replay show each message as it is now.
    const history = ok(
      await gql<{ chat: { lastRevision: number; messages: { edges: { node: Change }[] } } }>(
        b.url,
        'query($c: ID!) { chat(id: $c) { lastRevision messages { edges { node { content revision deletedAt } } } } }',
        { c: chatId },
        bob.token,
      ),
    ).chat;
    expect(history.lastRevision).toBe(2);
    expect(history.messages.edges.map((edge) => edge.node.content)).toEqual(['hello, all', '']);
    const replay = messages(open(b, bob), chatId, 0);
    await replay.count(2);
    expect(replay.data.map((message) => message.content)).toEqual(['hello, all', '']);
  });

  it('resumes changes after a revision: each changed message once, in revision order, as it is now', async () => {
    const chatId = await createChat(a.url, ann, 'resume');
    const ids = [];
    for (let i = 1; i <= 3; i++) ids.push((await sendMessage(a.url, ann, chatId, `m${i}`)).id);
    const live = changes(open(b, ann), chatId);
    // Subscribed once a change made now is seen.
    for (let attempt = 0; live.data.length === 0 && attempt < 50; attempt++) {
      ok(await gql(a.url, EDIT, { id: ids[0], c: `probe ${attempt}` }, ann.token));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seen = live.data.at(-1)!.revision;
    ok(await gql(a.url, EDIT, { id: ids[1], c: 'second, once' }, ann.token));
    ok(await gql(a.url, EDIT, { id: ids[2], c: 'third' }, ann.token));
    ok(await gql(a.url, EDIT, { id: ids[1], c: 'second, twice' }, ann.token));
    ok(await gql(a.url, DELETE, { id: ids[2] }, ann.token));
    await live.until(() => live.data.at(-1)?.revision === seen + 4, 'the live changes');
    expect(live.data.slice(-4).map((change) => change.revision)).toEqual([seen + 1, seen + 2, seen + 3, seen + 4]);

    // A client that saw `seen` and was away meanwhile: message 2 once (its newest state), then message 3's delete.
    const resumed = changes(open(a, ann), chatId, seen);
    await resumed.count(2);
    expect(resumed.data.map(({ content, revision }) => [content, revision])).toEqual([
      ['second, twice', seen + 3],
      ['', seen + 4],
    ]);
  });

  it('misses no newest state when the bus drops its subscribers meanwhile', async () => {
    const chatId = await createChat(a.url, ann, 'faults');
    const ids = [];
    for (let i = 1; i <= 5; i++) ids.push((await sendMessage(a.url, ann, chatId, `m${i}`)).id);
    const watcher = changes(open(b, ann), chatId, 0);
    const edits = 60;
    for (let i = 1; i <= edits; i++) {
      if (i === 20) await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
      ok(await gql((i % 2 ? a : b).url, EDIT, { id: ids[i % ids.length], c: `edit ${i}` }, ann.token));
    }
    await watcher.until(() => watcher.data.at(-1)?.revision === edits, 'the last revision', 30_000);
    const revisions = watcher.data.map((change) => change.revision);
    // Strictly increasing, never an older state after a newer one, and each message's newest state is there.
    expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
    expect(new Set(revisions).size).toBe(revisions.length);
    const newest = new Map(watcher.data.map((change) => [change.id, change.content]));
    for (let i = edits - ids.length + 1; i <= edits; i++) expect(newest.get(ids[i % ids.length])).toBe(`edit ${i}`);
  });

  it('counts edits and deletes against the sending limit', async () => {
    const limited = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'edits-limited:',
      RATE_LIMIT_MESSAGES_PER_SECOND: '1',
      RATE_LIMIT_MESSAGES_BURST: '3',
    });
    try {
      const chatId = await createChat(limited.url, ann, 'limited');
      const { id } = await sendMessage(limited.url, ann, chatId, 'one');
      const answers = await Promise.all([
        ...Array.from({ length: 4 }, (_, i) => gql(limited.url, EDIT, { id, c: `edit ${i}` }, ann.token)),
        gql(limited.url, DELETE, { id }, ann.token),
      ]);
      expect(answers.map(errorCode)).toContain('RATE_LIMITED');
    } finally {
      await limited.stop();
    }
  });
});
