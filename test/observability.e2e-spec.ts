import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, errorCode, gql, sendMessage, signUp } from './support/gql';
import { eventually } from './support/presence';
import { freePort, TestRedis } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { connect, messages } from './support/ws';

describe('health, readiness, metrics and logs', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let pgProxy: TcpProxy;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    redis = await TestRedis.start();
    pgProxy = new TcpProxy(5432, await freePort());
    await pgProxy.open();
    const url = new URL(db.url);
    url.port = String(pgProxy.port);
    app = await AppProcess.start({ DATABASE_URL: url.toString(), REDIS_URL: redis.url });
  });

  afterAll(async () => {
    if (process.env.DUMP_LOGS) console.log(app?.logs.slice(-4000));
    await app?.kill();
    await pgProxy?.cut();
    await redis?.stop();
    await db?.drop();
  });

  const ready = async () => {
    const res = await fetch(`${app.url}/health/ready`);
    return { status: res.status, body: (await res.json()) as { details: Record<string, { status: string }> } };
  };

  it('is live and ready, then not ready while Redis or PostgreSQL is unreachable, and ready again after', async () => {
    expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
    expect((await ready()).status).toBe(200);

    await redis.stop();
    const noRedis = await eventually(ready, (r) => r.status === 503);
    expect(noRedis.body.details.bus.status).toBe('down');
    expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
    // A subscription that cannot reach the bus fails cleanly: a bare internal error, no driver text.
    const user = await signUp(app.url);
    const chatId = await createChat(app.url, user);
    const handle = connect(app.wsUrl, user.token);
    const refused = await messages(handle, chatId, 0).firstError(20_000);
    expect(refused).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    await handle.dispose();
    await redis.restart();
    await eventually(ready, (r) => r.status === 200, 15_000);

    await pgProxy.cut();
    const noDatabase = await eventually(ready, (r) => r.status === 503);
    expect(noDatabase.body.details.database.status).toBe('down');
    await pgProxy.open();
    await eventually(ready, (r) => r.status === 200, 15_000);
  });

  it('counts connections, subscriptions, messages and deliveries in Prometheus text', async () => {
    const user = await signUp(app.url);
    const chatId = await createChat(app.url, user);
    const handle = connect(app.wsUrl, user.token);
    const sub = messages(handle, chatId, 0);
    await sendMessage(app.url, user, chatId, 'counted');
    await sub.count(1);
    // The subscription is live now, so this one travels the bus and is timed publish-to-deliver.
    await sendMessage(app.url, user, chatId, 'counted live');
    await sub.count(2);
    const res = await fetch(`${app.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('chat_ws_connections')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^chat_subscriptions_active\{kind="messageAdded",instance_id="[^"]+"\} 1$/m);
    expect(value('chat_messages_sent_total')).toBeGreaterThanOrEqual(1);
    expect(value('chat_deliveries_total')).toBeGreaterThanOrEqual(1);
    expect(value('chat_publish_to_deliver_seconds_count')).toBeGreaterThanOrEqual(1);
    for (const name of [
      'chat_presence_metas',
      'chat_presence_reaped_instances_total',
      'chat_bus_reconnects_total',
      'process_resident_memory_bytes',
    ]) {
      expect(text).toContain(name);
    }
    await handle.dispose();
  });

  it("answers a client's mistakes without logging them as errors", async () => {
    const from = app.logs.length;
    const user = await signUp(app.url);
    const missing = '00000000-0000-0000-0000-000000000000';
    const send = (chatId: string, content: string, token?: string) =>
      gql(
        app.url,
        'mutation($i: SendMessageInput!) { sendMessage(input: $i) { id } }',
        { i: { chatId, content } },
        token,
      );
    expect(errorCode(await send(missing, 'hi', user.token))).toBe('NOT_FOUND');
    expect(errorCode(await send(missing, '', user.token))).toBe('BAD_USER_INPUT');
    expect(errorCode(await send(missing, 'hi'))).toBe('UNAUTHENTICATED');
    const handle = connect(app.wsUrl, user.token);
    expect((await messages(handle, missing, 0).firstError()).extensions?.code).toBe('NOT_FOUND');
    await handle.dispose();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const errorLines = app.logs
      .slice(from)
      .split('\n')
      .filter((line) => line.startsWith('{') && (JSON.parse(line) as { level: number }).level >= 50);
    expect(errorLines).toEqual([]);
  });

  it('logs JSON lines with the instance id, without tokens', async () => {
    const lines = app.logs.split('\n').filter((line) => line.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const entry = JSON.parse(line) as { instance?: string };
      expect(entry.instance).toEqual(expect.any(String));
    }
    expect(app.logs).not.toMatch(/Bearer ey/);
  });
});
