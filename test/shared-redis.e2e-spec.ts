import Redis from 'ioredis';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { createChat, errorCode, gql, joinChat, signUp, TestUser } from './support/gql';
import { eventually, flatten, presence, readPresence } from './support/presence';
import { TestRedis } from './support/redis-server';
import { connect, WsClientHandle } from './support/ws';

jest.setTimeout(120_000);

const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { token } }';

/** What one Redis holds for the deployments on it: limits are counted there, names carry REDIS_KEY_PREFIX. */
describe('deployments on one Redis', () => {
  let redis: TestRedis;
  const dbs: TestDatabase[] = [];
  const apps: AppProcess[] = [];
  const sockets: WsClientHandle[] = [];

  beforeAll(async () => {
    redis = await TestRedis.start();
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });

  afterAll(async () => {
    await Promise.all(dbs.map((db) => db.drop()));
    await redis?.stop();
  });

  async function deployment(instances: number, env: Record<string, string> = {}): Promise<AppProcess[]> {
    const db = await TestDatabase.create();
    dbs.push(db);
    const started = await Promise.all(
      Array.from({ length: instances }, () => AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: redis.url, ...env })),
    );
    apps.push(...started);
    return started;
  }

  /** `count` sends at once, every other one to each instance; every one that fails is RATE_LIMITED. */
  async function sendAlternately(
    [a, b]: AppProcess[],
    user: TestUser,
    chatId: string,
    count: number,
  ): Promise<{ seconds: number; committed: number }> {
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        gql(
          (i % 2 ? a : b).url,
          'mutation($input: SendMessageInput!) { sendMessage(input: $input) { seq } }',
          { input: { chatId, content: `m${i}` } },
          user.token,
        ),
      ),
    );
    const committed = answers.filter((answer) => !answer.errors).length;
    expect(answers.filter((answer) => answer.errors).map(errorCode)).toEqual(repeat('RATE_LIMITED', count - committed));
    return { seconds: Math.ceil((Date.now() - t0) / 1000), committed };
  }

  it('counts a message burst against one limit, whichever instance takes each message', async () => {
    const [a, b] = await deployment(2, {
      REDIS_KEY_PREFIX: 'burst:',
      RATE_LIMIT_MESSAGES_PER_SECOND: '1',
      RATE_LIMIT_MESSAGES_BURST: '5',
    });
    const ann = await signUp(a.url, 'Ann');
    const chatId = await createChat(a.url, ann);
    const { seconds, committed } = await sendAlternately([a, b], ann, chatId, 40);
    // The burst, plus what refills while the 40 requests are served: the steady rate and the burst's reserve.
    // Counted per instance, two instances would let through twice the burst.
    expect(committed).toBeGreaterThanOrEqual(5);
    expect(committed).toBeLessThanOrEqual(5 + 3 * seconds);
  });

  it('counts a generous limit in leases: far fewer Redis counts than messages, and still one limit', async () => {
    const [a, b] = await deployment(2, {
      REDIS_KEY_PREFIX: 'lease:',
      RATE_LIMIT_MESSAGES_PER_SECOND: '100',
      RATE_LIMIT_MESSAGES_BURST: '100',
    });
    const ann = await signUp(a.url, 'Ann');
    const chatId = await createChat(a.url, ann);
    const scripts = async () => {
      const stats = String(await redis.command('INFO', 'commandstats'));
      return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    const before = await scripts();
    const { seconds, committed } = await sendAlternately([a, b], ann, chatId, 400);
    const windows = seconds + 1;
    // Each one-second window allows 100 in all, however the two instances share it.
    expect(committed).toBeGreaterThanOrEqual(100);
    expect(committed).toBeLessThanOrEqual(100 * windows);
    // Counted one by one, every one of the 400 calls would be a script. Leases of 10 make one per ten messages,
    // plus, per window and instance, the lease that found the limit reached and the give-back of its excess.
    expect((await scripts()) - before).toBeLessThanOrEqual(Math.ceil(committed / 10) + 4 * windows);
  });

  it('counts sign-in attempts per address across instances, and per account across addresses', async () => {
    const [a, b] = await deployment(2, {
      REDIS_KEY_PREFIX: 'signin:',
      RATE_LIMIT_AUTH_PER_MINUTE: '20',
      RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: '100',
    });
    const signIn = (app: AppProcess, email: string, password: string, forwardedFor?: string) =>
      fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
        body: JSON.stringify({ query: SIGN_IN, variables: { input: { email, password } } }),
      }).then(async (response) =>
        errorCode({ status: response.status, raw: '', ...((await response.json()) as object) }),
      );

    // Exactly the limit, however the attempts fall on the instances. Sign-in attempts are counted one by one: were
    // a limit this size taken in leases (as messages are), b's one attempt would take points a could not use.
    const codes = [await signIn(b, 'nobody@example.com', 'wrong password')];
    for (let i = 0; i < 21; i++) codes.push(await signIn(a, 'nobody@example.com', 'wrong password'));
    expect(codes).toEqual([...repeat('UNAUTHENTICATED', 20), ...repeat('RATE_LIMITED', 2)]);

    // Per account: behind a trusted proxy each guess comes from another address, and still only a few pass.
    const [c, d] = await deployment(2, {
      REDIS_KEY_PREFIX: 'account:',
      TRUST_PROXY: 'loopback',
      RATE_LIMIT_AUTH_PER_MINUTE: '1000',
      RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: '3',
    });
    const victim = await signUp(c.url, 'Victim');
    // However the email is written: sign-in trims it and ignores case, and so does the count (padded past the
    // longest email, it once escaped the count and still signed in).
    const spellings = [victim.email, ` ${victim.email.toUpperCase()}${' '.repeat(300)}`];
    const guesses = [];
    for (let i = 0; i < 6; i++)
      guesses.push(await signIn(i % 2 ? c : d, spellings[i % 2], `guess ${i}`, `198.51.100.${i}`));
    expect(guesses).toEqual([...repeat('UNAUTHENTICATED', 3), ...repeat('RATE_LIMITED', 3)]);
    // While the account is over its limit, the right password is refused too: otherwise guessing goes on.
    for (const email of spellings) {
      expect(await signIn(c, email, 'correct horse battery', '198.51.100.200')).toBe('RATE_LIMITED');
    }

    // Signing in successfully does not use up an account's allowance.
    const regular = await signUp(c.url, 'Regular');
    const successes = [];
    for (let i = 0; i < 6; i++) successes.push(await signIn(i % 2 ? c : d, regular.email, 'correct horse battery'));
    expect(successes).toEqual(repeat(undefined, 6));
  });

  it('keeps two deployments apart: every key and channel carries its prefix, restarts touch only their own', async () => {
    // This file's Redis: what the tests above left is not the deployments' below.
    await redis.command('FLUSHALL');
    const channels = new Set<string>();
    const monitor = new Redis(redis.url);
    monitor.on('pmessage', (_pattern: string, channel: string) => channels.add(channel));
    await monitor.psubscribe('*');
    try {
      // Two deployments whose instances have the same names, as two local clusters would.
      const [blue] = await deployment(1, { REDIS_KEY_PREFIX: 'blue:', INSTANCE_ID: 'local-1' });
      const [green] = await deployment(1, { REDIS_KEY_PREFIX: 'green:', INSTANCE_ID: 'local-1' });
      const greenDb = dbs[dbs.length - 1];
      const scene = async (app: AppProcess): Promise<{ user: TestUser; chatId: string }> => {
        const user = await signUp(app.url, 'Ann');
        const other = await signUp(app.url, 'Ben');
        const chatId = await createChat(app.url, user);
        await joinChat(app.url, other, chatId);
        const socket = connect(app.wsUrl, user.token);
        sockets.push(socket);
        const watcher = presence(socket, chatId);
        await watcher.until(() => watcher.data.length > 0, 'presence state');
        await gql(app.url, 'mutation($c: ID!) { setTyping(chatId: $c, typing: true) }', { c: chatId }, user.token);
        await gql(
          app.url,
          'mutation($input: SendMessageInput!) { sendMessage(input: $input) { seq } }',
          { input: { chatId, content: 'hello' } },
          other.token,
        );
        return { user, chatId };
      };
      const blueScene = await scene(blue);
      await scene(green);

      // A restart of green's local-1 clears what green's previous run left, and nothing of blue's.
      await green.kill();
      apps.push(
        await AppProcess.start({
          DATABASE_URL: greenDb.url,
          REDIS_URL: redis.url,
          REDIS_KEY_PREFIX: 'green:',
          INSTANCE_ID: 'local-1',
        }),
      );
      expect(flatten(await readPresence(blue.url, blueScene.user.token, blueScene.chatId))).toHaveLength(1);

      const keys = (await redis.command('KEYS', '*')) as string[];
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((key) => !key.startsWith('blue:') && !key.startsWith('green:'))).toEqual([]);
      await eventually(
        async () => channels.size,
        (size) => size > 0,
      );
      expect([...channels].filter((channel) => !channel.startsWith('blue:') && !channel.startsWith('green:'))).toEqual(
        [],
      );
    } finally {
      monitor.disconnect();
    }
  });
});

function repeat<T>(value: T, times: number): T[] {
  return Array.from({ length: times }, () => value);
}
