import WebSocket from 'ws';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, gql, ok, signUp, TestUser } from './support/gql';
import { readMetric } from './support/app-process';
import { eventually } from './support/presence';
import { connect } from './support/ws';

/** What a raw socket sees: the close code and whether the server answered anything before it. */
function closeOf(socket: WebSocket): Promise<{ code: number; messages: string[] }> {
  const messages: string[] = [];
  socket.on('message', (data: Buffer) => messages.push(String(data)));
  return new Promise((resolve) => socket.once('close', (code: number) => resolve({ code, messages })));
}

describe('WebSocket limits', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      HTTP_BODY_LIMIT: '64kb',
      JWT_EXPIRES_IN: '3',
    });
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('closes a socket with 1009 for a message over the limit, before connection_init, without parsing it', async () => {
    const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
    const closed = closeOf(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    // Not even JSON: a parsed message would be refused with 4400 instead.
    socket.send('x'.repeat(65 * 1024));
    expect(await closed).toEqual({ code: 1009, messages: [] });

    // One at the limit is read (and, being no protocol message, refused by graphql-ws).
    const within = new WebSocket(app.wsUrl, 'graphql-transport-ws');
    const withinClosed = closeOf(within);
    await new Promise((resolve, reject) => within.once('open', resolve).once('error', reject));
    within.send('x'.repeat(60 * 1024));
    expect((await withinClosed).code).toBe(4400);
    expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
  });

  it('runs nothing a socket sends once its token expired, and drops one whose client stopped reading', async () => {
    const user = await signUp(app.url, 'Bea');
    const chatId = await createChat(app.url, user, 'after expiry');
    const before = await readMetric(app.url, 'chat_ws_connections');
    const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } }));
    await new Promise((resolve) => socket.once('message', resolve));
    expect(await readMetric(app.url, 'chat_ws_connections')).toBe(before + 1);
    // The client stops reading, so it never sees the 4403, and keeps sending.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const send = (id: string) =>
      socket.send(
        JSON.stringify({
          id,
          type: 'subscribe',
          payload: {
            query: 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { seq } }',
            variables: { input: { chatId, content: `sent as ${id}` } },
          },
        }),
      );
    send('before');
    await eventually(
      () => lastSeqOf(app, user.token, chatId),
      (seq) => seq === 1,
    );
    // The token lives 3 s (JWT_EXPIRES_IN). At its expiry (to the heartbeat's tick) the server closes the socket,
    // and it drops the connection a second later: these arrive in between, on a socket that is closing.
    const { exp } = JSON.parse(Buffer.from(user.token.split('.')[1], 'base64url').toString()) as { exp: number };
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 + 400 - Date.now()));
    for (let i = 0; i < 5; i++) send(`after ${i}`);
    await eventually(
      () => readMetric(app.url, 'chat_ws_connections'),
      (open) => open === before,
      5_000,
    );
    expect(await lastSeqOf(app, await signIn(app, user), chatId)).toBe(1);
    socket.terminate();
  });

  it('closes a socket with 4403 when its token expires', async () => {
    const user = await signUp(app.url, 'Ann');
    const issuedAt = Date.now();
    const ws = connect(app.wsUrl, user.token);
    try {
      const me = await new Promise<unknown>((resolve, reject) => {
        ws.client.subscribe({ query: '{ me { id } }' }, { next: resolve, error: reject, complete: () => undefined });
      });
      expect(me).toEqual({ data: { me: { id: user.id } } });
      const { code } = await ws.closed;
      expect(code).toBe(4403);
      // The token lives 3 s (JWT_EXPIRES_IN), counted in whole seconds from when it was issued.
      expect(Date.now() - issuedAt).toBeGreaterThanOrEqual(1_900);
    } finally {
      await ws.dispose();
    }
  });
});

async function signIn(app: AppProcess, user: TestUser): Promise<string> {
  return ok(
    await gql<{ signIn: { token: string } }>(
      app.url,
      'mutation($input: SignInInput!) { signIn(input: $input) { token } }',
      { input: { email: user.email, password: 'correct horse battery' } },
    ),
  ).signIn.token;
}

async function lastSeqOf(app: AppProcess, token: string, chatId: string): Promise<number> {
  const read = await gql<{ chat: { lastSeq: number } }>(
    app.url,
    'query($id: ID!) { chat(id: $id) { lastSeq } }',
    { id: chatId },
    token,
  );
  return ok(read).chat.lastSeq;
}
