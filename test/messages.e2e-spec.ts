import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, errorCode, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';

interface Page {
  edges: { cursor: string; node: { seq: number; content: string; user: { id: string } } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

const PAGE = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  chat(id: $id) { messages(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { seq content user { id firstName } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  } }
}`;

describe('messages (PostgreSQL)', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let alice: TestUser;
  let bob: TestUser;
  let outsider: TestUser;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, RATE_LIMIT_MESSAGES_BURST: '60' });
    [alice, bob, outsider] = await Promise.all([
      signUp(app.url, 'Alice'),
      signUp(app.url, 'Bob'),
      signUp(app.url, 'Eve'),
    ]);
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  async function page(chatId: string, args: Record<string, unknown>, user = alice): Promise<Page> {
    return ok(await gql<{ chat: { messages: Page } }>(app.url, PAGE, { id: chatId, ...args }, user.token)).chat
      .messages;
  }

  it('stores trimmed content, bumps lastSeq and returns the author', async () => {
    const chatId = await createChat(app.url, alice);
    const sent = await sendMessage(app.url, alice, chatId, '  hello world  ');
    expect(sent).toMatchObject({ seq: 1, content: 'hello world', clientId: null });
    const chat = ok(
      await gql<{ chat: { lastSeq: number } }>(
        app.url,
        'query($id: ID!) { chat(id: $id) { lastSeq } }',
        { id: chatId },
        alice.token,
      ),
    );
    expect(chat.chat.lastSeq).toBe(1);
  });

  it('gives 20 concurrent sends from two users seq 1..20 with no gap or duplicate', async () => {
    const chatId = await createChat(app.url, alice);
    await joinChat(app.url, bob, chatId);
    const sends = Array.from({ length: 20 }, (_, i) => sendMessage(app.url, i % 2 ? bob : alice, chatId, `m${i}`));
    const seqs = (await Promise.all(sends)).map((m) => m.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const rows = await db.query<{ seq: number }>('SELECT seq FROM messages WHERE chat_id = $1 ORDER BY seq', [chatId]);
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    const chat = await db.query<{ last_seq: number }>('SELECT last_seq FROM chats WHERE id = $1', [chatId]);
    expect(chat[0].last_seq).toBe(20);
  });

  it('makes a retry with the same clientId return the original message, even when concurrent', async () => {
    const chatId = await createChat(app.url, alice);
    const first = await sendMessage(app.url, alice, chatId, 'once', 'client-1');
    const retry = await sendMessage(app.url, alice, chatId, 'once (retried)', 'client-1');
    expect(retry).toEqual(first);
    const racing = await Promise.all(
      Array.from({ length: 5 }, () => sendMessage(app.url, alice, chatId, 'race', 'client-2')),
    );
    expect(new Set(racing.map((m) => m.id)).size).toBe(1);
    // The same clientId from another user is another message.
    await joinChat(app.url, bob, chatId);
    const bobs = await sendMessage(app.url, bob, chatId, 'mine', 'client-1');
    expect(bobs.id).not.toBe(first.id);
    const rows = await db.query<{ seq: number }>('SELECT seq FROM messages WHERE chat_id = $1 ORDER BY seq', [chatId]);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it.each([
    ['empty content', { content: '' }],
    ['blank content', { content: '   \n ' }],
    ['content over 4000 characters', { content: 'x'.repeat(4001) }],
    ['empty clientId', { content: 'ok', clientId: '' }],
    ['clientId over 100 characters', { content: 'ok', clientId: 'c'.repeat(101) }],
  ])('rejects %s with BAD_USER_INPUT and stores nothing', async (_name, input) => {
    const chatId = await createChat(app.url, alice);
    const res = await gql(
      app.url,
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      { input: { chatId, ...input } },
      alice.token,
    );
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(await db.query('SELECT 1 FROM messages WHERE chat_id = $1', [chatId])).toHaveLength(0);
  });

  it('accepts exactly 4000 characters', async () => {
    const chatId = await createChat(app.url, alice);
    expect((await sendMessage(app.url, alice, chatId, 'y'.repeat(4000))).content).toHaveLength(4000);
  });

  it('counts length in code points: 4000 emoji pass, 4001 do not; nothing visible is refused', async () => {
    const chatId = await createChat(app.url, alice);
    const emoji = '\u{1F600}'.repeat(4000);
    expect((await sendMessage(app.url, alice, chatId, emoji)).content).toBe(emoji);
    const send = (content: string) =>
      gql(
        app.url,
        'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
        { input: { chatId, content } },
        alice.token,
      );
    for (const content of [`${emoji}\u{1F600}`, '\u200b\u200b', ' \u200c\u2060\ufeff ', '\u3164']) {
      expect([JSON.stringify(content.slice(0, 8)), errorCode(await send(content))]).toEqual([
        JSON.stringify(content.slice(0, 8)),
        'BAD_USER_INPUT',
      ]);
    }
    expect(await db.query('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [chatId])).toEqual([{ n: 1 }]);
  });

  it('refuses non-members (FORBIDDEN) and unknown chats (NOT_FOUND) for sending and reading', async () => {
    const chatId = await createChat(app.url, alice);
    const SEND = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
    expect(errorCode(await gql(app.url, SEND, { input: { chatId, content: 'hi' } }, outsider.token))).toBe('FORBIDDEN');
    expect(errorCode(await gql(app.url, PAGE, { id: chatId }, outsider.token))).toBe('FORBIDDEN');
    expect(
      errorCode(
        await gql(
          app.url,
          SEND,
          { input: { chatId: '00000000-0000-4000-8000-000000000000', content: 'hi' } },
          alice.token,
        ),
      ),
    ).toBe('NOT_FOUND');
    expect(await db.query('SELECT 1 FROM messages WHERE chat_id = $1', [chatId])).toHaveLength(0);
  });

  describe('history paging', () => {
    let chatId: string;
    const TOTAL = 45;

    beforeAll(async () => {
      chatId = await createChat(app.url, alice);
      await joinChat(app.url, bob, chatId);
      for (let i = 1; i <= TOTAL; i++) await sendMessage(app.url, i % 3 ? alice : bob, chatId, `message ${i}`);
    });

    it('defaults to the 20 newest, oldest first', async () => {
      const p = await page(chatId, {});
      expect(p.edges.map((e) => e.node.seq)).toEqual(Array.from({ length: 20 }, (_, i) => TOTAL - 19 + i));
      expect(p.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });
    });

    it('pages forward from the oldest with no overlap or gap', async () => {
      const seen: number[] = [];
      let after: string | null = null;
      const infos: Page['pageInfo'][] = [];
      for (;;) {
        const p = await page(chatId, { first: 10, after });
        seen.push(...p.edges.map((e) => e.node.seq));
        infos.push(p.pageInfo);
        if (!p.pageInfo.hasNextPage) break;
        after = p.pageInfo.endCursor;
      }
      expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
      expect(infos.map((i) => i.hasNextPage)).toEqual([true, true, true, true, false]);
      expect(infos.map((i) => i.hasPreviousPage)).toEqual([false, true, true, true, true]);
    });

    it('pages backward from the newest with no overlap or gap', async () => {
      const seen: number[] = [];
      let before: string | null = null;
      const infos: Page['pageInfo'][] = [];
      for (;;) {
        const p = await page(chatId, { last: 10, before });
        seen.unshift(...p.edges.map((e) => e.node.seq));
        infos.push(p.pageInfo);
        if (!p.pageInfo.hasPreviousPage) break;
        before = p.pageInfo.startCursor;
      }
      expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
      expect(infos.map((i) => i.hasPreviousPage)).toEqual([true, true, true, true, false]);
      expect(infos.map((i) => i.hasNextPage)).toEqual([false, true, true, true, true]);
    });

    it('reads a page of 50 with its authors in one response', async () => {
      const p = await page(chatId, { first: 50 });
      expect(p.edges).toHaveLength(TOTAL);
      expect(new Set(p.edges.map((e) => e.node.user.id))).toEqual(new Set([alice.id, bob.id]));
    });

    it('handles first: 0 and a cursor at the end', async () => {
      const zero = await page(chatId, { first: 0 });
      expect(zero.edges).toEqual([]);
      expect(zero.pageInfo.hasNextPage).toBe(true);
      const end = await page(chatId, { first: 10 });
      const tail = await page(chatId, { first: 100, after: end.pageInfo.endCursor });
      const afterTail = await page(chatId, { first: 10, after: tail.pageInfo.endCursor });
      expect(afterTail.edges).toEqual([]);
      expect(afterTail.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    });

    it.each([
      ['first with last', { first: 5, last: 5 }],
      ['first over 100', { first: 101 }],
      ['negative last', { last: -1 }],
      ['a garbage cursor', { after: 'garbage!' }],
      ['a well-formed base64 of something else', { after: Buffer.from('user:1').toString('base64url') }],
      ['an overlong cursor', { before: 'A'.repeat(500) }],
    ])('rejects %s with BAD_USER_INPUT', async (_name, args) => {
      expect(errorCode(await gql(app.url, PAGE, { id: chatId, ...args }, alice.token))).toBe('BAD_USER_INPUT');
    });
  });

  it('rate-limits a flood of messages with RATE_LIMITED and retryAfterMs, but not a normal pace', async () => {
    const chatId = await createChat(app.url, outsider);
    // A person's normal pace: 10 messages within one second all pass.
    for (let i = 0; i < 10; i++) await sendMessage(app.url, outsider, chatId, `pace ${i}`);
    const SEND = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { seq } }';
    const flood = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        gql(app.url, SEND, { input: { chatId, content: `flood ${i}` } }, outsider.token),
      ),
    );
    const limited = flood.filter((r) => errorCode(r) === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0].errors![0].extensions!.retryAfterMs).toEqual(expect.any(Number));
    // What passed is still gap-free.
    const rows = await db.query<{ seq: number }>('SELECT seq FROM messages WHERE chat_id = $1 ORDER BY seq', [chatId]);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    expect(rows.length).toBe(10 + flood.length - limited.length);
  });
});
