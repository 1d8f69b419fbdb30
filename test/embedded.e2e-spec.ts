import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppProcess } from './support/app-process';
import { createChat, errorCode, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';

/** The first-try mode: no DATABASE_URL, no REDIS_URL, no JWT_SECRET; everything under DATA_DIR. */
describe('embedded default (PGlite, in-process bus)', () => {
  let dataDir: string;
  let app: AppProcess;
  const env = () => ({ DATA_DIR: dataDir, JWT_SECRET: undefined, NODE_ENV: 'development' });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'chat-embedded-'));
    app = await AppProcess.start(env());
  });

  afterAll(async () => {
    await app?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the core flow, keeps seq gap-free under concurrent senders, and keeps data across a restart', async () => {
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

    expect(await app.stop()).toBe(0);
    app = await AppProcess.start(env());

    // The generated JWT secret was kept under DATA_DIR, so the old token still works.
    const page = ok(
      await gql<{
        chat: { lastSeq: number; members: { id: string }[]; messages: { edges: { node: { seq: number } }[] } };
      }>(
        app.url,
        'query($id: ID!) { chat(id: $id) { lastSeq members { id } messages(first: 100) { edges { node { seq } } } } }',
        { id: chatId },
        alice.token,
      ),
    );
    expect(page.chat.lastSeq).toBe(21);
    expect(page.chat.messages.edges.map((e) => e.node.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(page.chat.members).toHaveLength(2);
    const next = await sendMessage(app.url, bob, chatId, 'after restart');
    expect(next.seq).toBe(22);
    const signIn = await gql(
      app.url,
      'mutation($e: String!) { signIn(input: { email: $e, password: "correct horse battery" }) { token } }',
      { e: alice.email },
    );
    expect(signIn.errors).toBeUndefined();
  });
});
