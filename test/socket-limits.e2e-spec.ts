import WebSocket from 'ws';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { signUp } from './support/gql';
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
