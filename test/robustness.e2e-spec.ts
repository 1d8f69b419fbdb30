import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, errorCode, gql, GqlResponse, post, sendMessage, signUp, TestUser } from './support/gql';

/** Text no client should ever see: stack frames, SQL, driver/ORM errors, file paths. */
const LEAKS =
  /(\bat \S+ \(|node_modules|\/work\/|\/src\/|\.ts:\d+|\.js:\d+|QueryFailedError|SELECT |INSERT |UPDATE |violates|duplicate key|syntax error at or near|TypeORM|pg_)/i;

/** A query nested `depth` fields deep; this schema has no cycles, so past six levels the fields do not exist. */
function nest(depth: number): string {
  const path = ['chats', 'messages', 'edges', 'node', 'user'];
  const names = Array.from({ length: depth }, (_, i) => path[i] ?? 'id');
  return `{ ${names.join(' { ')}${' }'.repeat(depth - 1)} }`;
}

describe('malformed requests', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let user: TestUser;
  let chatId: string;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
    user = await signUp(app.url);
    chatId = await createChat(app.url, user);
    await sendMessage(app.url, user, chatId, 'before the barrage');
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  async function snapshot(): Promise<string> {
    const counts = await db.query(
      'SELECT (SELECT count(*) FROM users) u, (SELECT count(*) FROM chats) c, (SELECT count(*) FROM chat_members) m, (SELECT count(*) FROM messages) msg, (SELECT sum(last_seq) FROM chats) s',
    );
    return JSON.stringify(counts);
  }

  function expectClean(res: GqlResponse): void {
    expect(res.raw).not.toMatch(LEAKS);
    expect(res.status).toBeLessThan(500);
  }

  it('answers a barrage of malformed requests with clear errors, changes nothing, and stays healthy', async () => {
    const before = await snapshot();
    const t = user.token;
    const big = 'x'.repeat(1024 * 1024);
    const cases: [string, () => Promise<GqlResponse>, (string | undefined)?][] = [
      ['invalid JSON', () => post(app.url, '{"query": "{ me { id } ', t), undefined],
      ['not JSON at all', () => post(app.url, 'hello', t, 'text/plain'), undefined],
      ['JSON array', () => post(app.url, '[1,2,3]', t), undefined],
      ['JSON null', () => post(app.url, 'null', t), undefined],
      ['query is a number', () => post(app.url, '{"query": 42}', t), 'BAD_REQUEST'],
      ['no query', () => post(app.url, '{}', t), 'BAD_REQUEST'],
      ['variables not an object', () => post(app.url, '{"query":"{ me { id } }","variables":"x"}', t), 'BAD_REQUEST'],
      ['syntax error', () => gql(app.url, '{ me { id ', {}, t), 'GRAPHQL_PARSE_FAILED'],
      ['unknown field', () => gql(app.url, '{ nope }', {}, t), 'GRAPHQL_VALIDATION_FAILED'],
      [
        'wrong argument type (literal)',
        () => gql(app.url, '{ chat(id: {a: 1}) { id } }', {}, t),
        'GRAPHQL_VALIDATION_FAILED',
      ],
      [
        'wrong variable type',
        () => gql(app.url, 'query($id: ID!) { chat(id: $id) { id } }', { id: { a: 1 } }, t),
        'BAD_USER_INPUT',
      ],
      [
        'missing required variable',
        () => gql(app.url, 'query($id: ID!) { chat(id: $id) { id } }', {}, t),
        'BAD_USER_INPUT',
      ],
      [
        'int overflow',
        () =>
          gql(
            app.url,
            'query($id: ID!, $n: Int) { chat(id: $id) { messages(first: $n) { edges { cursor } } } }',
            { id: chatId, n: 2 ** 40 },
            t,
          ),
        'BAD_USER_INPUT',
      ],
      [
        'a 1 MB string',
        () =>
          gql(
            app.url,
            'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
            { input: { chatId, content: big } },
            t,
          ),
        undefined,
      ],
      ['a 50-level nested query', () => gql(app.url, nest(50), {}, t), 'GRAPHQL_VALIDATION_FAILED'],
      [
        'a thousand aliases',
        () =>
          gql(
            app.url,
            `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: chats { messages(last: 100) { edges { node { id } } } }`).join(' ')} }`,
            {},
            t,
          ),
        // Refused by the parser's token limit before validation starts.
        'GRAPHQL_PARSE_FAILED',
      ],
      [
        'a fragment cycle',
        () => gql(app.url, '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }', {}, t),
        'GRAPHQL_VALIDATION_FAILED',
      ],
      [
        'sql-ish content in ids',
        () =>
          gql(
            app.url,
            'mutation { sendMessage(input: { chatId: "1; DROP TABLE messages", content: "x" }) { id } }',
            {},
            t,
          ),
        'NOT_FOUND',
      ],
      [
        'null bytes in content',
        () =>
          gql(
            app.url,
            'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
            { input: { chatId, content: 'a\u0000b' } },
            t,
          ),
        'BAD_USER_INPUT',
      ],
      [
        'lone surrogate in a variable',
        () =>
          post(
            app.url,
            '{"query":"mutation($i: SignUpInput!) { signUp(input: $i) { token } }","variables":{"i":{"email":"a@x.co","firstName":"\\ud800","password":"12345678"}}}',
          ),
        'BAD_USER_INPUT',
      ],
      ['a huge token', () => gql(app.url, '{ me { id } }', {}, 'x'.repeat(100_000)), undefined],
    ];
    for (const [name, send, code] of cases) {
      const res = await send();
      try {
        expectClean(res);
        expect(res.status).toBeGreaterThanOrEqual(200);
        if (code) expect(errorCode(res)).toBe(code);
        else expect(res.status === 200 ? res.errors?.length : res.status).toBeTruthy();
      } catch (error) {
        throw new Error(`${name}: ${(error as Error).message}\nresponse ${res.status}: ${res.raw.slice(0, 500)}`);
      }
    }
    expect(await snapshot()).toBe(before);
    const live = await fetch(`${app.url}/health/live`);
    expect(live.status).toBe(200);
    // The app still works for this user.
    await sendMessage(app.url, user, chatId, 'after the barrage');
    expect(app.running).toBe(true);
  });

  it('answers a 50-level query the same over HTTP whatever the nesting shape', async () => {
    const res = await gql(
      app.url,
      `{ ${'chats { messages { edges { node { user { id } } } } } '.repeat(1)} }`,
      {},
      user.token,
    );
    expect(res.errors).toBeUndefined();
  });

  it('lets introspection through despite its depth', async () => {
    const res = await gql(
      app.url,
      '{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name ofType { name ofType { name } } } } } } } } } }',
    );
    expect(res.errors).toBeUndefined();
  });

  it('keeps unknown routes and oversized headers clean', async () => {
    const res = await fetch(`${app.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toMatch(LEAKS);
  });

  it('upgrades to WebSocket on /graphql only, not on a path that merely starts with it', async () => {
    const outcome = (path: string) =>
      new Promise<string>((resolve) => {
        const socket = new WebSocket(`${app.wsUrl.replace(/\/graphql$/, '')}${path}`, 'graphql-transport-ws');
        socket.once('open', () => {
          socket.close();
          resolve('open');
        });
        socket.once('error', () => resolve('refused'));
      });
    expect(await outcome('/graphql')).toBe('open');
    expect(await outcome('/graphql?x=1')).toBe('open');
    expect(await outcome('/graphqlXYZ')).toBe('refused');
    expect(await outcome('/graphql-other/graphql')).toBe('refused');
  });

  it('never exposes internals in responses for a concurrent mix of bad and good requests', async () => {
    const before = await snapshot();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2
          ? gql(
              app.url,
              'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
              { input: { chatId, content: '' } },
              user.token,
            )
          : post(app.url, '{"query": "{ me', user.token),
      ),
    );
    for (const res of results) expectClean(res);
    expect(await snapshot()).toBe(before);
  });
});

describe('WebSocket keep-alive', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let user: TestUser;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, WS_KEEPALIVE_MS: '1000' });
    user = await signUp(app.url);
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  /** An authenticated graphql-ws socket; `answersPings: false` is a peer that vanished without closing. */
  async function open(answersPings: boolean): Promise<{ socket: WebSocket; closed: Promise<number> }> {
    const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws', { autoPong: answersPings });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () =>
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } })),
      );
      socket.once('message', (data: Buffer) => {
        const text = data.toString('utf8');
        if (text.includes('connection_ack')) resolve();
        else reject(new Error(text));
      });
      socket.once('error', reject);
    });
    return { socket, closed };
  }

  it('drops a peer that stops answering pings, and keeps one that answers', async () => {
    const silent = await open(false);
    const healthy = await open(true);
    let pings = 0;
    healthy.socket.on('ping', () => pings++);

    // Pinged within one interval, dropped by the next turn: well within three seconds.
    const code = await Promise.race([silent.closed, sleep(5000).then(() => 'still open')]);
    expect(code).toBe(1006);

    await sleep(1500);
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(healthy.socket.readyState).toBe(WebSocket.OPEN);
    healthy.socket.close();
    await healthy.closed;
  });
});

describe('shutdown with a request in flight', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
  });

  afterAll(async () => {
    await app?.kill();
    await db?.drop();
  });

  it('answers it, then ends its keep-alive connection at once rather than after the keep-alive timeout', async () => {
    const { port } = new URL(app.url);
    const body = JSON.stringify({ query: '{ __typename }' });
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const ended = once(socket, 'close').then(() => Date.now());
    // Half the body: the request is in flight when the signal comes.
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 5)}`,
    );
    await sleep(300);
    const exited = app.stop('SIGTERM');
    // The listener closes first; a new connection is refused once it has.
    for (let refused = false; !refused;) {
      refused = await fetch(`${app.url}/health/live`).then(
        () => false,
        () => true,
      );
      if (!refused) await sleep(50);
    }
    socket.write(body.slice(5));
    const answeredAt = await new Promise<number>((resolve) =>
      socket.on('data', () => received.includes('__typename') && resolve(Date.now())),
    );
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received).toContain('"__typename":"Query"');
    // Node's keep-alive timeout is 5 s; ended by the drain, the connection goes well before that.
    expect((await ended) - answeredAt).toBeLessThan(2500);
    expect(await exited).toBe(0);
  });
});
