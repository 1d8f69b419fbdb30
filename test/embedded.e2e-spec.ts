import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import {
  binariesFor,
  postgresBinaries,
  postgresUser,
  readPostmasterLock,
} from '../src/database/embedded-postgres-host';
import { eventually } from './support/presence';
import { killAll, processesIn } from './support/processes';
import { AppProcess } from './support/app-process';
import { createChat, errorCode, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';

/** The first-try mode: no DATABASE_URL, no REDIS_URL, no JWT_SECRET; everything under DATA_DIR. */
describe('embedded default (PostgreSQL under DATA_DIR, in-process bus)', () => {
  const dataDirs: string[] = [];
  const apps: AppProcess[] = [];
  const strays: number[] = [];

  function newDataDir(): string {
    // mkdtemp makes a directory only its owner may enter: under root, PostgreSQL runs as another user and still
    // works below it, as in a home directory.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'chat-embedded-')), 'data');
    dataDirs.push(dataDir);
    return dataDir;
  }

  async function start(dataDir: string): Promise<AppProcess> {
    const app = await AppProcess.start({ DATA_DIR: dataDir, JWT_SECRET: undefined, NODE_ENV: 'development' });
    apps.push(app);
    return app;
  }

  afterAll(async () => {
    for (const app of apps) await app.kill();
    killAll(strays);
    // Nothing of these data directories may outlive the file, whatever failed above.
    for (const dataDir of dataDirs) {
      killAll(postgresProcessesOf(dataDir));
      rmSync(dirname(dataDir), { recursive: true, force: true });
    }
  });

  it('runs the core flow, keeps seq gap-free under concurrent senders, and keeps data across a restart', async () => {
    const dataDir = newDataDir();
    let app = await start(dataDir);
    const alice: TestUser = await signUp(app.url, 'Alice');
    const bob: TestUser = await signUp(app.url, 'Bob');
    const chatId = await createChat(app.url, alice, 'embedded');
    await joinChat(app.url, bob, chatId);

    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sendMessage(app.url, i % 2 ? bob : alice, chatId, `m${i}`)),
    );
    expect(sent.map((m) => m.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const original = await sendMessage(app.url, alice, chatId, 'idempotent', 'retry-1');
    expect(await sendMessage(app.url, alice, chatId, 'idempotent', 'retry-1')).toEqual(original);
    expect(
      errorCode(await gql(app.url, '{ chat(id: "00000000-0000-4000-8000-000000000000") { id } }', {}, alice.token)),
    ).toBe('NOT_FOUND');

    // SIGTERM stops the app and its PostgreSQL with it, cleanly.
    expect(await app.stop()).toBe(0);
    expect(postgresProcessesOf(dataDir)).toEqual([]);
    app = await start(dataDir);

    // The generated JWT secret was kept under DATA_DIR, so the old token still works.
    expect(await lastSeqs(app, alice, chatId)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    const next = await sendMessage(app.url, bob, chatId, 'after restart');
    expect(next.seq).toBe(22);
    const signIn = await gql(
      app.url,
      'mutation($e: String!) { signIn(input: { email: $e, password: "correct horse battery" }) { token } }',
      { e: alice.email },
    );
    expect(signIn.errors).toBeUndefined();
    expect(await app.stop()).toBe(0);
    expect(postgresProcessesOf(dataDir)).toEqual([]);
  });

  it('starts again after the app was killed, with its data, and leaves no PostgreSQL of the killed run', async () => {
    const dataDir = newDataDir();
    let app = await start(dataDir);
    const alice = await signUp(app.url, 'Alice');
    const chatId = await createChat(app.url, alice, 'killed');
    await sendMessage(app.url, alice, chatId, 'before the kill');
    const killedPostmaster = postmasterPid(dataDir);
    expect(postgresProcessesOf(dataDir)).toContain(killedPostmaster);

    await app.kill();
    // The kernel stops the server with its parent (setpriv --pdeathsig; util-linux has it wherever this runs).
    await eventually(
      async () => postgresProcessesOf(dataDir),
      (pids) => pids.length === 0,
      15_000,
    );
    app = await start(dataDir);
    expect(await lastSeqs(app, alice, chatId)).toEqual([1]);
    expect(postgresProcessesOf(dataDir)).not.toContain(killedPostmaster);
    expect(postmasterPid(dataDir)).not.toBe(killedPostmaster);

    expect(await app.stop()).toBe(0);
    expect(postgresProcessesOf(dataDir)).toEqual([]);
  });

  it('stops a PostgreSQL that an earlier run left running on its data directory, then starts', async () => {
    const dataDir = newDataDir();
    let app = await start(dataDir);
    const alice = await signUp(app.url, 'Alice');
    const chatId = await createChat(app.url, alice, 'left behind');
    await sendMessage(app.url, alice, chatId, 'kept');
    expect(await app.stop()).toBe(0);

    // What a killed run leaves where nothing stops the server with its parent: a postmaster on the data directory
    // that no app owns (started here directly, as the user who owns the data).
    const pgData = join(dataDir, 'postgres');
    const runAs = postgresUser(pgData, () => undefined);
    const { uid, gid } = runAs ?? { uid: process.getuid!(), gid: process.getgid!() };
    // Node's uid switch (unlike the app's setpriv) keeps no capability: that user must be able to enter.
    chmodSync(dirname(dataDir), 0o755);
    // A shell starts it in the background and exits, so that, like a killed app's, it has lost its parent.
    const postgres = [
      binariesFor(postgresBinaries(), runAs).postgres,
      '-D',
      pgData,
      '-k',
      pgData,
      '-c',
      'listen_addresses=',
    ];
    const shell = spawnSync('/bin/sh', ['-c', '"$@" >/dev/null 2>&1 & echo $!', 'sh', ...postgres], { uid, gid });
    const leftover = Number(shell.stdout.toString().trim());
    strays.push(leftover);
    await eventually(
      async () => postmasterPid(dataDir),
      (pid) => pid === leftover,
      15_000,
    );

    app = await start(dataDir);
    expect(postgresProcessesOf(dataDir)).not.toContain(leftover);
    expect(app.logs).toContain(`stopping the embedded PostgreSQL (pid ${leftover})`);
    expect(await lastSeqs(app, alice, chatId)).toEqual([1]);
    expect(await app.stop()).toBe(0);
    expect(postgresProcessesOf(dataDir)).toEqual([]);
  });

  it('refuses to start on a DATA_DIR whose database another running app uses, and that app keeps it', async () => {
    const dataDir = newDataDir();
    const first = await start(dataDir);
    const alice = await signUp(first.url, 'Alice');
    const chatId = await createChat(first.url, alice, 'shared directory');
    const postmaster = postmasterPid(dataDir);

    await expect(start(dataDir)).rejects.toThrow(/DATA_DIR is in use/);
    expect(postmasterPid(dataDir)).toBe(postmaster);
    await sendMessage(first.url, alice, chatId, 'still served');
    expect(await lastSeqs(first, alice, chatId)).toEqual([1]);
    expect(await first.stop()).toBe(0);
  });

  it('lets one of two apps started at once on a new DATA_DIR create and serve its database; the other refuses', async () => {
    const dataDir = newDataDir();
    const results = await Promise.allSettled([start(dataDir), start(dataDir)]);
    const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const refused = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    expect(started).toHaveLength(1);
    expect(refused).toEqual([expect.stringMatching(/DATA_DIR is in use/)]);

    const [app] = started;
    const alice = await signUp(app.url, 'Alice');
    const chatId = await createChat(app.url, alice, 'first start');
    await sendMessage(app.url, alice, chatId, 'kept');
    expect(await app.stop()).toBe(0);
    expect(readdirSync(dataDir).sort()).toEqual(['jwt-secret', 'postgres']);

    const again = await start(dataDir);
    expect(await lastSeqs(again, alice, chatId)).toEqual([1]);
    expect(await again.stop()).toBe(0);
  });

  it("keeps what a client sent out of its PostgreSQL's log lines: a taken email is refused, and not logged", async () => {
    // At debug, where the server's own narration is passed on too.
    const app = await AppProcess.start({ DATA_DIR: newDataDir(), JWT_SECRET: undefined, LOG_LEVEL: 'debug' });
    apps.push(app);
    const alice = await signUp(app.url, 'Alice');
    const again = await gql(app.url, 'mutation($input: SignUpInput!) { signUp(input: $input) { token } }', {
      input: { email: alice.email, firstName: 'Alice', password: 'correct horse battery' },
    });
    expect(errorCode(again)).toBe('CONFLICT');
    expect(await app.stop()).toBe(0);
    expect(app.logs).not.toContain(alice.email);
  });

  it('serves requests while another waits on a lock: the pool has more than one connection', async () => {
    const dataDir = newDataDir();
    const app = await start(dataDir);
    const alice = await signUp(app.url, 'Alice');
    const locked = await createChat(app.url, alice, 'locked');
    const free = await createChat(app.url, alice, 'free');

    // A transaction outside the app holds the row every send to `locked` must update.
    const blocker = new Client({ host: join(dataDir, 'postgres'), port: 5432, user: 'postgres', database: 'postgres' });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [locked]);
      let blockedDone = false;
      const blocked = sendMessage(app.url, alice, locked, 'waits for the lock').then((message) => {
        blockedDone = true;
        return message;
      });
      await eventually(
        () => lockWaits(blocker),
        (waits) => waits > 0,
        15_000,
      );

      // With one connection these would queue behind the blocked send until the lock went.
      const startedAt = Date.now();
      expect((await sendMessage(app.url, alice, free, 'not blocked')).seq).toBe(1);
      expect(await lastSeqs(app, alice, free)).toEqual([1]);
      expect(Date.now() - startedAt).toBeLessThan(5000);
      expect(blockedDone).toBe(false);

      await blocker.query('COMMIT');
      expect((await blocked).seq).toBe(1);
    } finally {
      await blocker.end();
    }
  });

  it('leaves the data directory of the earlier PGlite engine as it was, and says so', async () => {
    const dataDir = newDataDir();
    const old = join(dataDir, 'pgdata');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'PG_VERSION'), '17\n');
    const app = await start(dataDir);
    await signUp(app.url, 'Fresh');
    expect(app.logs).toContain(`${old} holds data of the earlier embedded engine (PGlite)`);
    expect(await app.stop()).toBe(0);
    expect(readdirSync(old)).toEqual(['PG_VERSION']);
    expect(readFileSync(join(old, 'PG_VERSION'), 'utf8')).toBe('17\n');
  });

  it('runs beside another embedded instance and the machine PostgreSQL without a port of its own', async () => {
    const [first, second] = await Promise.all([start(newDataDir()), start(newDataDir())]);
    for (const app of [first, second]) {
      expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);
      await signUp(app.url, 'Both');
    }
    expect(await first.stop()).toBe(0);
    expect(await second.stop()).toBe(0);
  });
});

async function lastSeqs(app: AppProcess, user: TestUser, chatId: string): Promise<number[]> {
  const page = ok(
    await gql<{ chat: { lastSeq: number; messages: { edges: { node: { seq: number } }[] } } }>(
      app.url,
      'query($id: ID!) { chat(id: $id) { lastSeq messages(first: 100) { edges { node { seq } } } } }',
      { id: chatId },
      user.token,
    ),
  );
  const seqs = page.chat.messages.edges.map((e) => e.node.seq);
  expect(page.chat.lastSeq).toBe(seqs.length ? Math.max(...seqs) : 0);
  return seqs;
}

/** Sessions of the app waiting on a lock (the blocked send). */
async function lockWaits(client: Client): Promise<number> {
  const result = await client.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
  );
  return result.rows[0].n;
}

function postmasterPid(dataDir: string): number | undefined {
  return readPostmasterLock(join(dataDir, 'postgres'))?.pid;
}

/** Every live process whose working directory is this DATA_DIR's PostgreSQL data (the postmaster and its children). */
function postgresProcessesOf(dataDir: string): number[] {
  return processesIn(join(dataDir, 'postgres'));
}
