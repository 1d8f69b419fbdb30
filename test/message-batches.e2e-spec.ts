import { DataSource } from 'typeorm';
import { Sql } from '../src/database/sql';
import { MessagesRepository } from '../src/messages/messages.repository';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, joinChat, signUp, TestUser } from './support/gql';

/**
 * Sends are written in groups (one statement for every send waiting). These tests drive the repository
 * directly, many sends in one tick, so the groups really form, against the schema the app migrated.
 */
describe('grouped message writes (PostgreSQL)', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let alice: TestUser;
  let bob: TestUser;
  let outsider: TestUser;
  const sources: DataSource[] = [];

  async function repository(): Promise<MessagesRepository> {
    const source = new DataSource({ type: 'postgres', url: db.url, poolSize: 4 });
    await source.initialize();
    sources.push(source);
    return new MessagesRepository(new Sql(source), source);
  }

  const seqsOf = async (chatId: string) =>
    (
      await db.query<{ seq: number; content: string }>(
        'SELECT seq, content FROM messages WHERE chat_id = $1 ORDER BY seq',
        [chatId],
      )
    ).map((r) => r.seq);

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
    [alice, bob, outsider] = await Promise.all([
      signUp(app.url, 'Alice'),
      signUp(app.url, 'Bob'),
      signUp(app.url, 'Eve'),
    ]);
  });

  afterAll(async () => {
    await Promise.all(sources.map((s) => s.destroy()));
    await app?.stop();
    await db?.drop();
  });

  it('gives each chat of a mixed group gap-free seqs in arrival order, and refuses only the non-member', async () => {
    const repo = await repository();
    const [one, two] = [await createChat(app.url, alice), await createChat(app.url, alice)];
    await joinChat(app.url, bob, one);
    const sends = Array.from({ length: 30 }, (_, i) => {
      const chatId = i % 3 === 2 ? two : one;
      const author = i % 3 === 1 ? bob : alice;
      return repo.insert(chatId, author.id, `m${i}`, null);
    });
    const stranger = repo.insert(one, outsider.id, 'not a member', null);
    const results = await Promise.all(sends);
    expect(await stranger).toBeNull();
    const inOne = results.filter((r) => r!.message.chatId === one).map((r) => r!.message);
    const inTwo = results.filter((r) => r!.message.chatId === two).map((r) => r!.message);
    const ascending = (seqs: number[]) => [...seqs].sort((a, b) => a - b);
    expect(ascending(inOne.map((m) => m.seq))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(ascending(inTwo.map((m) => m.seq))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    // The first two sends took the two free slots, alone; the other 28 waited and went as one group, in which
    // arrival order is seq order within each chat.
    const grouped = results.slice(2).map((r) => r!.message);
    for (const chatId of [one, two]) {
      const seqs = grouped.filter((m) => m.chatId === chatId).map((m) => m.seq);
      expect(seqs).toEqual(ascending(seqs));
    }
    expect(results.map((r) => r!.message.content)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
    expect(results.every((r) => r!.duplicate === false)).toBe(true);
    expect(results[1]!.message.user.id).toBe(bob.id);
    expect(await seqsOf(one)).toEqual(ascending(inOne.map((m) => m.seq)));
    const last = await db.query<{ id: string; last_seq: number }>('SELECT id, last_seq FROM chats WHERE id = ANY($1)', [
      [one, two],
    ]);
    expect(Object.fromEntries(last.map((c) => [c.id, c.last_seq]))).toEqual({ [one]: 20, [two]: 10 });
  });

  it('answers a clientId repeated within one group, and one already stored, with the first message', async () => {
    const repo = await repository();
    const chatId = await createChat(app.url, alice);
    const stored = (await repo.insert(chatId, alice.id, 'first', 'c-1'))!;
    const busy = Array.from({ length: 5 }, (_, i) => repo.insert(chatId, alice.id, `filler ${i}`, null));
    const group = [
      repo.insert(chatId, alice.id, 'again', 'c-1'),
      repo.insert(chatId, alice.id, 'new', 'c-2'),
      repo.insert(chatId, alice.id, 'new, retried', 'c-2'),
      repo.insert(chatId, alice.id, 'new, retried twice', 'c-2'),
    ];
    await Promise.all(busy);
    const [again, fresh, retry, retry2] = await Promise.all(group);
    expect(again).toEqual({ message: stored.message, duplicate: true });
    expect(fresh!.duplicate).toBe(false);
    expect(fresh!.message.content).toBe('new');
    expect(retry).toEqual({ message: fresh!.message, duplicate: true });
    expect(retry2).toEqual({ message: fresh!.message, duplicate: true });
    expect(await seqsOf(chatId)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('fails only the write at fault when a group is refused, and stores the rest', async () => {
    const repo = await repository();
    const chatId = await createChat(app.url, alice);
    // The service refuses NUL before it gets here; the repository must still not let it sink its neighbours.
    const results = await Promise.allSettled(
      ['a', 'b', 'bad \u0000 text', 'c', 'd'].map((text) => repo.insert(chatId, alice.id, text, null)),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const rows = await db.query<{ content: string }>('SELECT content FROM messages WHERE chat_id = $1 ORDER BY seq', [
      chatId,
    ]);
    expect(rows.map((r) => r.content).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(await seqsOf(chatId)).toEqual([1, 2, 3, 4]);
  });

  it('keeps seqs gap-free when two instances write groups over the same chats at once', async () => {
    const [first, second] = [await repository(), await repository()];
    const chats = await Promise.all(Array.from({ length: 4 }, () => createChat(app.url, alice)));
    const wave = (repo: MessagesRepository, order: string[], label: string) =>
      Array.from({ length: 60 }, (_, i) => repo.insert(order[i % order.length], alice.id, `${label}${i}`, null));
    const results = await Promise.all([...wave(first, chats, 'a'), ...wave(second, [...chats].reverse(), 'b')]);
    expect(results.every((r) => r !== null)).toBe(true);
    for (const chatId of chats) expect(await seqsOf(chatId)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });
});
