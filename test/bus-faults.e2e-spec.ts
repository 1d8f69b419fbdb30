import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, joinChat, sendMessage, signUp, TestUser } from './support/gql';
import { TestRedis } from './support/redis-server';
import { connect, messages, MESSAGE_ADDED, WsClientHandle } from './support/ws';

const seqRange = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('delivery when the bus loses events', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let a: AppProcess;
  let b: AppProcess;
  let alice: TestUser;
  let bob: TestUser;
  const handles: WsClientHandle[] = [];

  beforeAll(async () => {
    db = await TestDatabase.create();
    redis = await TestRedis.start();
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      RATE_LIMIT_MESSAGES_BURST: '1000',
      RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
    };
    [a, b] = await Promise.all([AppProcess.start(env), AppProcess.start(env)]);
    [alice, bob] = await Promise.all([signUp(a.url), signUp(a.url)]);
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    await db?.drop();
  });

  async function flowWhile(chatId: string, total: number, fault: () => Promise<void>): Promise<void> {
    let sent = 0;
    const sender = (async () => {
      while (sent < total) {
        sent++;
        await sendMessage((sent % 2 ? a : b).url, sent % 3 ? alice : bob, chatId, `m${sent}`);
      }
    })();
    // Let some messages through first, then break the bus mid-stream.
    while (sent < total / 3) await new Promise((resolve) => setImmediate(resolve));
    await fault();
    await sender;
  }

  it('still delivers every seq exactly once, in order, when Redis drops its subscriber connections', async () => {
    const chatId = await createChat(a.url, alice);
    await joinChat(a.url, bob, chatId);
    const subs = [a, b, a, b].map((app, i) => {
      const handle = connect(app.wsUrl, (i % 2 ? bob : alice).token);
      handles.push(handle);
      return messages(handle, chatId, 0);
    });
    await flowWhile(chatId, 90, async () => {
      await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    });
    await Promise.all(subs.map((s) => s.count(90)));
    for (const s of subs) expect(s.data.map((m) => m.seq)).toEqual(seqRange(1, 90));
  });

  it('still delivers every seq exactly once, in order, across a Redis restart', async () => {
    const chatId = await createChat(a.url, alice);
    await joinChat(a.url, bob, chatId);
    const subs = [a, b].map((app, i) => {
      const handle = connect(app.wsUrl, (i % 2 ? bob : alice).token);
      handles.push(handle);
      return messages(handle, chatId, 0);
    });
    await flowWhile(chatId, 60, async () => {
      await redis.restart(300);
    });
    // The tail published while Redis was away arrives without any further message.
    await Promise.all(subs.map((s) => s.count(60, 20_000)));
    for (const s of subs) expect(s.data.map((m) => m.seq)).toEqual(seqRange(1, 60));
  });
});

/**
 * A raw graphql-ws client, for a reader that stops reading: connected and acknowledged, with `subscribe` for
 * messageAdded operations, `pause`/`resume` of its TCP reads, and the close code.
 */
async function rawSocket(wsUrl: string, token: string) {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  await new Promise((resolve) => socket.once('message', resolve));
  const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  return {
    closed,
    subscribe: (id: string, variables: Record<string, unknown>) =>
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: MESSAGE_ADDED, variables } })),
    nextMessage: () => new Promise((resolve) => socket.once('message', resolve)),
    pause: () => tcp.pause(),
    resume: () => tcp.resume(),
  };
}

describe('slow consumers', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      WS_MAX_QUEUED_EVENTS: '20',
      RATE_LIMIT_MESSAGES_BURST: '10000',
      RATE_LIMIT_MESSAGES_PER_SECOND: '10000',
    });
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  function rssKb(pid: number): number {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
  }

  it('closes a socket that stops reading once its cap is reached, while others keep receiving', async () => {
    const user = await signUp(app.url);
    const chatId = await createChat(app.url, user);

    // A raw graphql-ws client that subscribes 40 times over one socket and then stops reading it.
    const slow = await rawSocket(app.wsUrl, user.token);
    for (let i = 0; i < 40; i++) slow.subscribe(`s${i}`, { chatId, afterSeq: 0 });
    const healthy = connect(app.wsUrl, user.token);
    const fine = messages(healthy, chatId, 0);
    await sendMessage(app.url, user, chatId, 'warm-up');
    await fine.count(1);
    slow.pause();

    const rssBefore = rssKb(app.pid);
    const big = 'x'.repeat(3900);
    let sent = 1;
    while (!app.logs.includes('slow consumer') && sent < 2000) {
      await sendMessage(app.url, user, chatId, `${sent} ${big}`);
      sent++;
    }
    expect(app.logs).toContain('slow consumer');
    // After the cap, sending goes on; the healthy subscriber gets everything, and memory stays put.
    for (let i = 0; i < 100; i++, sent++) await sendMessage(app.url, user, chatId, `${sent} ${big}`);
    await fine.count(sent, 30_000);
    expect(fine.data.map((m) => m.seq)).toEqual(seqRange(1, sent));
    const growthMb = (rssKb(app.pid) - rssBefore) / 1024;
    expect(growthMb).toBeLessThan(150);

    slow.resume();
    expect([1013, 1006]).toContain(await slow.closed);
    await healthy.dispose();
  });

  it('refuses more operations per connection than the limit', async () => {
    const user = await signUp(app.url);
    const chatId = await createChat(app.url, user);
    const handle = connect(app.wsUrl, user.token);
    const subs = Array.from({ length: 101 }, () => messages(handle, chatId, 0));
    const last = subs[100];
    expect((await last.firstError()).extensions?.code).toBe('BAD_REQUEST');
    await handle.dispose();
  });
});

describe('slow consumers on the fastlane', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      WS_MAX_QUEUED_EVENTS: '20',
      // Out of reach here: only the count of undelivered events can close the socket.
      WS_MAX_BUFFERED_BYTES: String(1024 * 1024 * 1024),
      RATE_LIMIT_MESSAGES_BURST: '10000',
      RATE_LIMIT_MESSAGES_PER_SECOND: '10000',
    });
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('closes a socket whose one fastlane subscription holds more undelivered events than the cap', async () => {
    const user = await signUp(app.url);
    const chatId = await createChat(app.url, user);
    const slow = await rawSocket(app.wsUrl, user.token);
    const live = slow.nextMessage();
    // afterSeq: 0, so the warm-up arrives however soon it is sent.
    slow.subscribe('m', { chatId, afterSeq: 0 });
    await sendMessage(app.url, user, chatId, 'warm-up');
    await live;
    slow.pause();

    // The kernel's buffers take the first megabytes; then frames wait in the process, and the 21st is refused.
    const big = 'x'.repeat(3900);
    let sent = 1;
    while (!app.logs.includes('too many undelivered events') && sent < 5000) {
      await sendMessage(app.url, user, chatId, `${sent} ${big}`);
      sent++;
    }
    expect(app.logs).toContain('closing a slow consumer: too many undelivered events');
    slow.resume();
    expect([1013, 1006]).toContain(await slow.closed);
  });
});
