import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, errorCode, gql, joinChat, ok, signUp, TestUser } from './support/gql';

describe('accounts and chats (PostgreSQL)', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  describe('signUp / signIn / me', () => {
    const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { token user { id email firstName } } }';
    const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { token user { id email } } }';

    it('normalises the email, trims the name and returns a working token', async () => {
      const res = ok(
        await gql<{ signUp: { token: string; user: { id: string; email: string; firstName: string } } }>(
          app.url,
          SIGN_UP,
          { input: { email: '  Alice.Smith@Example.COM ', firstName: '  Alice ', password: 'password123' } },
        ),
      );
      expect(res.signUp.user.email).toBe('alice.smith@example.com');
      expect(res.signUp.user.firstName).toBe('Alice');
      const me = ok(await gql<{ me: { id: string } }>(app.url, '{ me { id email } }', undefined, res.signUp.token));
      expect(me.me.id).toBe(res.signUp.user.id);

      const stored = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [
        res.signUp.user.id,
      ]);
      expect(stored[0].password_hash).toMatch(/^\$argon2id\$/);
      expect(stored[0].password_hash).not.toContain('password123');
    });

    it('refuses a taken email (in any case) with CONFLICT', async () => {
      const input = { email: 'dup@example.com', firstName: 'D', password: 'password123' };
      ok(await gql(app.url, SIGN_UP, { input }));
      const again = await gql(app.url, SIGN_UP, { input: { ...input, email: ' DUP@example.com' } });
      expect(errorCode(again)).toBe('CONFLICT');
      expect(await db.query("SELECT 1 FROM users WHERE email = 'dup@example.com'")).toHaveLength(1);
    });

    it.each([
      [{ email: 'not-an-email', firstName: 'A', password: 'password123' }],
      [{ email: 'a1@example.com', firstName: '   ', password: 'password123' }],
      [{ email: 'a2@example.com', firstName: 'x'.repeat(101), password: 'password123' }],
      [{ email: 'a3@example.com', firstName: 'A', password: 'short' }],
      [{ email: 'a4@example.com', firstName: 'A', password: 'p'.repeat(201) }],
    ])('rejects bad sign-up input %j with BAD_USER_INPUT and stores nothing', async (input) => {
      const before = await db.query('SELECT id FROM users');
      expect(errorCode(await gql(app.url, SIGN_UP, { input }))).toBe('BAD_USER_INPUT');
      expect(await db.query('SELECT id FROM users')).toHaveLength(before.length);
    });

    it('accepts the boundaries: 1 and 100 character names, 8 and 200 character passwords, which then sign in', async () => {
      // Characters are code points: 200 emoji are 400 UTF-16 units.
      const accounts = [
        { email: 'b1@example.com', firstName: 'B', password: 'p'.repeat(8) },
        { email: 'b2@example.com', firstName: 'B'.repeat(100), password: 'p'.repeat(200) },
        { email: 'b3@example.com', firstName: '😀'.repeat(100), password: '😀'.repeat(200) },
      ];
      for (const input of accounts) {
        ok(await gql(app.url, SIGN_UP, { input }));
        ok(await gql(app.url, SIGN_IN, { input: { email: input.email, password: input.password } }));
      }
      expect(errorCode(await gql(app.url, SIGN_UP, { input: { ...accounts[2], password: '😀'.repeat(201) } }))).toBe(
        'BAD_USER_INPUT',
      );
    });

    it('gives the same UNAUTHENTICATED error for a wrong password and an unknown email', async () => {
      ok(
        await gql(app.url, SIGN_UP, { input: { email: 'carol@example.com', firstName: 'C', password: 'password123' } }),
      );
      const good = ok(
        await gql<{ signIn: { token: string } }>(app.url, SIGN_IN, {
          input: { email: 'CAROL@example.com', password: 'password123' },
        }),
      );
      expect(good.signIn.token).toEqual(expect.any(String));
      const wrong = await gql(app.url, SIGN_IN, { input: { email: 'carol@example.com', password: 'wrong-password' } });
      const unknown = await gql(app.url, SIGN_IN, { input: { email: 'nobody@example.com', password: 'password123' } });
      expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
      expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
      expect(wrong.errors![0].message).toBe(unknown.errors![0].message);
      const unstorable = await gql(app.url, SIGN_IN, {
        input: { email: 'car\u0000ol@example.com', password: 'password123' },
      });
      expect(errorCode(unstorable)).toBe('UNAUTHENTICATED');
    });

    it('needs a valid token for everything but signUp and signIn', async () => {
      expect(errorCode(await gql(app.url, '{ me { id } }'))).toBe('UNAUTHENTICATED');
      expect(errorCode(await gql(app.url, '{ me { id } }', undefined, 'not-a-jwt'))).toBe('UNAUTHENTICATED');
      // Signed with another secret.
      const forged =
        'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAifQ.' +
        'c2lnbmF0dXJlLXRoYXQtZG9lcy1ub3QtbWF0Y2g';
      expect(errorCode(await gql(app.url, '{ me { id } }', undefined, forged))).toBe('UNAUTHENTICATED');
      expect(errorCode(await gql(app.url, '{ chats { id } }'))).toBe('UNAUTHENTICATED');
      expect(errorCode(await gql(app.url, 'mutation { createChat(input: { roomName: "x" }) { id } }'))).toBe(
        'UNAUTHENTICATED',
      );
    });
  });

  describe('chats and membership', () => {
    let alice: TestUser;
    let bob: TestUser;
    let carol: TestUser;

    beforeAll(async () => {
      [alice, bob, carol] = await Promise.all([
        signUp(app.url, 'Alice'),
        signUp(app.url, 'Bob'),
        signUp(app.url, 'Carol'),
      ]);
    });

    const CHAT = 'query($id: ID!) { chat(id: $id) { id roomName isPrivate lastSeq members { id } } }';

    it('creates a chat with the creator as its only member, trimming the name', async () => {
      const res = ok(
        await gql<{ createChat: { roomName: string; isPrivate: boolean; lastSeq: number; members: { id: string }[] } }>(
          app.url,
          'mutation { createChat(input: { roomName: "  General  " }) { roomName isPrivate lastSeq members { id } } }',
          undefined,
          alice.token,
        ),
      );
      expect(res.createChat).toEqual({
        roomName: 'General',
        isPrivate: false,
        lastSeq: 0,
        members: [{ id: alice.id }],
      });
    });

    it.each(['', '   ', 'x'.repeat(101)])('rejects room name %j with BAD_USER_INPUT', async (roomName) => {
      const before = await db.query('SELECT id FROM chats');
      const res = await gql(
        app.url,
        'mutation($n: String!) { createChat(input: { roomName: $n }) { id } }',
        { n: roomName },
        alice.token,
      );
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(await db.query('SELECT id FROM chats')).toHaveLength(before.length);
    });

    it('lets anyone join a public chat, idempotently, and lists it in publicChats', async () => {
      const chatId = await createChat(app.url, alice, 'public room');
      await joinChat(app.url, bob, chatId);
      await joinChat(app.url, bob, chatId);
      const chat = ok(await gql<{ chat: { members: { id: string }[] } }>(app.url, CHAT, { id: chatId }, bob.token));
      expect(chat.chat.members.map((m) => m.id).sort()).toEqual([alice.id, bob.id].sort());
      const pub = ok(
        await gql<{ publicChats: { id: string }[] }>(app.url, '{ publicChats { id } }', undefined, carol.token),
      );
      expect(pub.publicChats.map((c) => c.id)).toContain(chatId);
      const mine = ok(await gql<{ chats: { id: string }[] }>(app.url, '{ chats { id } }', undefined, bob.token));
      expect(mine.chats.map((c) => c.id)).toContain(chatId);
    });

    it('pages publicChats newest first, 200 at a time, each public chat once', async () => {
      for (let batch = 0; batch < 11; batch++) {
        await Promise.all(Array.from({ length: 20 }, (_, i) => createChat(app.url, carol, `many ${batch}.${i}`)));
      }
      const secret = await createChat(app.url, carol, 'not listed', true);
      // Within one millisecond, two by two in the same microsecond: pages must part on the stored time and the id.
      await db.query(
        `UPDATE chats SET created_at = timestamptz '2026-01-01 00:00:00.5+00' + (n / 2) * interval '1 microsecond'
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM chats WHERE NOT is_private) numbered
         WHERE chats.id = numbered.id`,
      );
      const page = async (after?: string) =>
        ok(
          await gql<{ publicChats: { id: string; createdAt: string }[] }>(
            app.url,
            'query($after: ID) { publicChats(after: $after) { id createdAt } }',
            { after },
            bob.token,
          ),
        ).publicChats;
      const pages = [await page()];
      while (pages[pages.length - 1].length === 200) pages.push(await page(pages[pages.length - 1].at(-1)!.id));
      const listed = pages.flat();
      const rows = await db.query<{ id: string }>(
        'SELECT id FROM chats WHERE NOT is_private ORDER BY created_at DESC, id',
      );
      expect(pages.length).toBeGreaterThan(1);
      expect(listed.map((chat) => chat.id)).toEqual(rows.map((row) => row.id));
      for (const bad of [secret, '00000000-0000-4000-8000-000000000000', 'not an id']) {
        expect(
          errorCode(await gql(app.url, 'query($a: ID) { publicChats(after: $a) { id } }', { a: bad }, bob.token)),
        ).toBe('BAD_USER_INPUT');
      }
    });

    it('keeps private chats private: not listed, not joinable, not readable', async () => {
      const chatId = await createChat(app.url, alice, 'secret', true);
      const pub = ok(
        await gql<{ publicChats: { id: string }[] }>(app.url, '{ publicChats { id } }', undefined, bob.token),
      );
      expect(pub.publicChats.map((c) => c.id)).not.toContain(chatId);
      expect(
        errorCode(await gql(app.url, 'mutation($id: ID!) { joinChat(chatId: $id) { id } }', { id: chatId }, bob.token)),
      ).toBe('FORBIDDEN');
      expect(errorCode(await gql(app.url, CHAT, { id: chatId }, bob.token))).toBe('FORBIDDEN');
      expect(await db.query('SELECT 1 FROM chat_members WHERE chat_id = $1', [chatId])).toHaveLength(1);
    });

    it('lets a member add someone to a private chat, and nobody else', async () => {
      const chatId = await createChat(app.url, alice, 'team', true);
      const ADD = 'mutation($c: ID!, $u: ID!) { addMember(chatId: $c, userId: $u) { id members { id } } }';
      expect(errorCode(await gql(app.url, ADD, { c: chatId, u: carol.id }, bob.token))).toBe('FORBIDDEN');
      const added = ok(
        await gql<{ addMember: { members: { id: string }[] } }>(app.url, ADD, { c: chatId, u: bob.id }, alice.token),
      );
      expect(added.addMember.members.map((m) => m.id)).toContain(bob.id);
      // Now a member, Bob may add Carol; adding twice is harmless.
      ok(await gql(app.url, ADD, { c: chatId, u: carol.id }, bob.token));
      ok(await gql(app.url, ADD, { c: chatId, u: carol.id }, bob.token));
      ok(await gql(app.url, CHAT, { id: chatId }, carol.token));
      // joinChat on a private chat one already belongs to is fine.
      ok(await gql(app.url, 'mutation($id: ID!) { joinChat(chatId: $id) { id } }', { id: chatId }, carol.token));
      expect(
        errorCode(await gql(app.url, ADD, { c: chatId, u: '00000000-0000-4000-8000-000000000000' }, alice.token)),
      ).toBe('NOT_FOUND');
      expect(errorCode(await gql(app.url, ADD, { c: chatId, u: 'not-a-uuid' }, alice.token))).toBe('NOT_FOUND');
    });

    it('answers NOT_FOUND for a chat that does not exist, whatever the id looks like', async () => {
      for (const id of ['00000000-0000-4000-8000-000000000000', 'nope', "'; DROP TABLE chats; --", '']) {
        expect(errorCode(await gql(app.url, CHAT, { id }, alice.token))).toBe('NOT_FOUND');
      }
      expect(errorCode(await gql(app.url, 'mutation { joinChat(chatId: "zzz") { id } }', undefined, alice.token))).toBe(
        'NOT_FOUND',
      );
    });

    it('leaveChat removes the membership; leaving again is FORBIDDEN', async () => {
      const chatId = await createChat(app.url, alice, 'leavers');
      await joinChat(app.url, bob, chatId);
      const LEAVE = 'mutation($id: ID!) { leaveChat(chatId: $id) }';
      expect(ok(await gql<{ leaveChat: boolean }>(app.url, LEAVE, { id: chatId }, bob.token)).leaveChat).toBe(true);
      expect(errorCode(await gql(app.url, CHAT, { id: chatId }, bob.token))).toBe('FORBIDDEN');
      expect(errorCode(await gql(app.url, LEAVE, { id: chatId }, bob.token))).toBe('FORBIDDEN');
      const mine = ok(await gql<{ chats: { id: string }[] }>(app.url, '{ chats { id } }', undefined, bob.token));
      expect(mine.chats.map((c) => c.id)).not.toContain(chatId);
    });

    it('shows members only to members, even of a listed public chat', async () => {
      const chatId = await createChat(app.url, alice, 'public but members hidden');
      // Every listed chat with all its members is over the complexity budget, refused before anything runs; a
      // listed chat's members are asked for through chat(id), which refuses a non-member.
      const listed = await gql(app.url, '{ publicChats { id members { id } } }', undefined, carol.token);
      expect(errorCode(listed)).toBe('GRAPHQL_VALIDATION_FAILED');
      const res = await gql(
        app.url,
        'query($id: ID!) { chat(id: $id) { id members { id } } }',
        { id: chatId },
        carol.token,
      );
      expect(res.errors?.some((e) => e.extensions?.code === 'FORBIDDEN')).toBe(true);
      expect(res.data).toBeNull();
      const own = ok(
        await gql<{ chat: { id: string; members: { id: string }[] } }>(
          app.url,
          'query($id: ID!) { chat(id: $id) { id members { id } } }',
          { id: chatId },
          alice.token,
        ),
      );
      expect(own.chat.members).toEqual([{ id: alice.id }]);
    });
  });
});
