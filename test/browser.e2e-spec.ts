/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, gql, joinChat, ok, sendMessage, signUp, TestUser } from './support/gql';
import { presence } from './support/presence';
import { TcpProxy } from './support/tcp-proxy';
import { connect, WsClientHandle } from './support/ws';

/**
 * The chat page and the IDE in a real browser (Debian's Chromium driven by playwright-core) against the built
 * app on real PostgreSQL and Redis. Screenshots land in test-artifacts/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
/** Generous: the machine may be busy, and every wait ends as soon as the page gets there. */
const WAIT_MS = 30_000;
const TEST_TIMEOUT_MS = 180_000;
const PASSWORD = 'correct horse battery';

describe('browser pages', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let browser: Browser;
  const policyViolations: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    db = await TestDatabase.create();
    // Typing never lapses on its own here, so an indicator that clears proves the page cleared it.
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PRESENCE_TYPING_TIMEOUT_MS: '600000',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await db?.drop();
  });

  afterEach(() => {
    expect(policyViolations.splice(0)).toEqual([]);
  });

  async function openPage(viewport: { width: number; height: number }, url: string): Promise<Page> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) policyViolations.push(message.text());
    });
    await page.goto(url);
    return page;
  }

  async function signUpInPage(page: Page, firstName: string): Promise<void> {
    await page.getByLabel('Email', { exact: true }).fill(`${firstName.toLowerCase()}.${Date.now()}@example.com`);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel(/^Name/).fill(firstName);
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.locator('#workspace').waitFor();
  }

  /** A page already signed in as `user` (its token in localStorage, as after a reload), at `hash`. */
  async function openAs(
    user: TestUser,
    viewport: { width: number; height: number },
    hash = '',
    colorScheme: 'light' | 'dark' = 'light',
  ): Promise<Page> {
    const context = await browser.newContext({ viewport, colorScheme });
    await context.addInitScript((token) => localStorage.setItem('chat.token', token), user.token);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) policyViolations.push(message.text());
    });
    await page.goto(`${app.url}/${hash}`);
    await page.locator('#workspace').waitFor();
    return page;
  }

  /** Someone in the chat through the API: present (a tracked presence subscription) and able to type. */
  async function presentIn(user: TestUser, chatId: string): Promise<WsClientHandle> {
    const socket = connect(app.wsUrl, user.token);
    await presence(socket, chatId).count(1);
    return socket;
  }

  async function setTyping(user: TestUser, chatId: string, typing: boolean): Promise<void> {
    ok(
      await gql(
        app.url,
        'mutation($c: ID!, $t: Boolean!) { setTyping(chatId: $c, typing: $t) }',
        { c: chatId, t: typing },
        user.token,
      ),
    );
  }

  const member = (page: Page, name: string) => page.locator('#members li', { hasText: name });
  const message = (page: Page, text: string) => page.locator('#messages li', { hasText: text });

  it(
    'lets two people chat: presence, typing, live messages, and a reload that resumes',
    async () => {
      const alice = await openPage({ width: 1100, height: 700 }, app.url);
      await signUpInPage(alice, 'Alice');
      await alice.getByLabel('New chat').fill('Lobby');
      await alice.getByRole('button', { name: 'Create' }).click();
      await alice.locator('#chat-title', { hasText: 'Lobby' }).waitFor();

      // Bob on a phone-sized screen: one column, the open chat in it; its members one tap away.
      const bob = await openPage({ width: 390, height: 844 }, app.url);
      await signUpInPage(bob, 'Bob');
      await bob.getByRole('button', { name: 'Join Lobby' }).click();
      await bob.locator('#chat-title', { hasText: 'Lobby' }).waitFor();

      await member(alice, 'Bob').waitFor();
      await bob.getByRole('button', { name: 'Members' }).click();
      await member(bob, 'Alice').waitFor();
      await bob.getByRole('button', { name: 'Back to the chat' }).click();
      await member(alice, 'Alice (you)').waitFor();

      // Typing shows on the other side and clears when the message is sent.
      await bob.locator('#message-input').pressSequentially('Hi Alice!');
      await member(alice, 'Bob').locator('.typing').waitFor();
      await bob.locator('#message-input').press('Enter');
      await message(alice, 'Hi Alice!').waitFor();
      await message(bob, 'Hi Alice!').waitFor();
      await member(alice, 'Bob').locator('.typing').waitFor({ state: 'detached' });

      await alice.locator('#message-input').fill('Hello Bob, <b>not bold</b>');
      await alice.locator('#message-input').press('Enter');
      await message(bob, 'Hello Bob, <b>not bold</b>').waitFor();
      expect(await bob.locator('#messages b').count()).toBe(0);

      // Typing clears on blur too.
      await bob.locator('#message-input').pressSequentially('one moment');
      await member(alice, 'Bob').locator('.typing').waitFor();
      await alice.screenshot({ path: join(ARTIFACTS, 'chat-page.png') });
      await bob.screenshot({ path: join(ARTIFACTS, 'chat-page-phone.png'), fullPage: true });
      await bob.locator('#message-input').blur();
      await member(alice, 'Bob').locator('.typing').waitFor({ state: 'detached' });

      // A reload resumes: the token is kept, the history loads again, and live messages follow.
      await bob.reload();
      await message(bob, 'Hi Alice!').waitFor();
      await message(bob, 'Hello Bob').waitFor();
      await bob.getByRole('button', { name: 'Members' }).click();
      await member(bob, 'Alice').waitFor();
      await bob.getByRole('button', { name: 'Back to the chat' }).click();
      await alice.locator('#message-input').fill('Welcome back');
      await alice.locator('#message-input').press('Enter');
      await message(bob, 'Welcome back').waitFor();
      expect(await bob.locator('#messages li').allTextContents()).toEqual([
        expect.stringContaining('Hi Alice!'),
        expect.stringContaining('Hello Bob'),
        expect.stringContaining('Welcome back'),
      ]);
      // Bob's old tab left and his new one joined: one entry, one device.
      await alice.waitForFunction(
        () =>
          Array.from(document.querySelectorAll('#members li')).filter((li) => li.textContent?.includes('Bob'))
            .length === 1 && !document.querySelector('#members .devices'),
      );

      await alice.context().close();
      await bob.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'edits and deletes messages in place, live on both sides; the owner deletes anyone’s, a member only their own',
    async () => {
      const ann = await openPage({ width: 1100, height: 700 }, app.url);
      await signUpInPage(ann, 'Ann');
      await ann.getByLabel('New chat').fill('Drafts');
      await ann.getByRole('button', { name: 'Create' }).click();
      await ann.locator('#chat-title', { hasText: 'Drafts' }).waitFor();
      const bob = await openPage({ width: 1100, height: 700 }, app.url);
      await signUpInPage(bob, 'Bob');
      await bob.getByRole('button', { name: 'Join Drafts' }).click();
      await bob.locator('#chat-title', { hasText: 'Drafts' }).waitFor();

      await ann.locator('#message-input').fill('Welcome, Bob');
      await ann.locator('#message-input').press('Enter');
      await bob.locator('#message-input').fill('Thnaks');
      await bob.locator('#message-input').press('Enter');
      await message(ann, 'Thnaks').waitFor();
      // Bob may change only his own message.
      expect(await message(bob, 'Welcome, Bob').getByRole('button').count()).toBe(0);
      await message(bob, 'Thnaks').getByRole('button', { name: 'Edit' }).click();
      await bob.getByLabel('Edit message').fill('Thanks!');
      await bob.getByLabel('Edit message').press('Enter');
      await message(ann, 'Thanks!').locator('.edited').waitFor();
      await message(bob, 'Thanks!').locator('.edited').waitFor();
      // The chat list's preview of the newest message follows the edit, and then the delete.
      const preview = (page: Page) =>
        page.locator('#my-chats li[data-chat-id]', { hasText: 'Drafts' }).locator('.preview');
      await preview(ann).filter({ hasText: 'Bob: Thanks!' }).waitFor();

      // Ann owns the chat: she deletes Bob's message, and it turns into a tombstone for both, in place.
      await message(ann, 'Thanks!').getByRole('button', { name: 'Delete' }).click();
      await message(bob, 'Message deleted').waitFor();
      await message(ann, 'Message deleted').waitFor();
      await preview(bob).filter({ hasText: 'Bob: Message deleted' }).waitFor();
      expect(await bob.locator('#messages li').allTextContents()).toEqual([
        expect.stringContaining('Welcome, Bob'),
        expect.stringContaining('Message deleted'),
      ]);

      await ann.context().close();
      await bob.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'lets the owner rename and remove, any member add by email, anyone leave, and a direct chat start from a name',
    async () => {
      const listed = (page: Page, name: string) => page.locator('#my-chats li[data-chat-id]', { hasText: name });
      const ann = await openPage({ width: 1100, height: 800 }, app.url);
      await signUpInPage(ann, 'Ann');
      await ann.getByLabel('New chat').fill('Secret');
      await ann.getByLabel('Private').check();
      await ann.getByRole('button', { name: 'Create' }).click();
      await ann.locator('#chat-title', { hasText: 'Secret' }).waitFor();

      const bob = await openPage({ width: 1100, height: 800 }, app.url);
      const bobEmail = `bob.${Date.now()}@example.com`;
      await bob.getByLabel('Email', { exact: true }).fill(bobEmail);
      await bob.getByLabel('Password').fill(PASSWORD);
      await bob.getByLabel(/^Name/).fill('Bob');
      await bob.getByRole('button', { name: 'Sign up' }).click();
      await bob.locator('#workspace').waitFor();

      // Any member adds someone by email; the chat appears in their list at once.
      await ann.getByLabel('Add by email').fill(bobEmail.toUpperCase());
      await ann.getByRole('button', { name: 'Add', exact: true }).click();
      await ann.locator('#roster li', { hasText: 'Bob' }).waitFor();
      await listed(bob, 'Secret').waitFor();

      // The owner renames it; everyone's list follows.
      await ann.getByLabel('Rename').fill('Hideout');
      await ann.getByRole('button', { name: 'Rename', exact: true }).click();
      await ann.locator('#chat-title', { hasText: 'Hideout' }).waitFor();
      await listed(bob, 'Hideout').waitFor();

      // Bob, a member, sees no rename and no remove; he starts a direct chat from Ann's name.
      await bob.locator('#my-chats a', { hasText: 'Hideout' }).click();
      await bob.locator('#roster li', { hasText: 'Ann' }).waitFor();
      expect(await bob.locator('#rename-form').isHidden()).toBe(true);
      expect(await bob.getByRole('button', { name: /^Remove/ }).count()).toBe(0);
      await bob.getByRole('button', { name: 'Message Ann' }).click();
      await bob.locator('#chat-title', { hasText: 'Ann & Bob' }).waitFor();
      await bob.locator('#message-input').fill('Just us');
      await bob.locator('#message-input').press('Enter');
      await listed(ann, 'Ann & Bob').locator('.unread-count', { hasText: '1' }).waitFor();
      await bob.screenshot({ path: join(ARTIFACTS, 'chat-admin.png') });

      // The owner removes Bob from Hideout: it leaves his list. Bob leaves the direct chat himself.
      await ann.getByRole('button', { name: 'Remove Bob' }).click();
      await listed(bob, 'Hideout').waitFor({ state: 'detached' });
      await bob.getByRole('button', { name: 'Leave this chat' }).click();
      await listed(bob, 'Ann & Bob').waitFor({ state: 'detached' });
      await bob.locator('#chat-title', { hasText: 'Pick a chat' }).waitFor();

      await ann.context().close();
      await bob.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps the chat list live: chats to join, unread badges and previews, newest first, read receipts',
    async () => {
      const listed = (page: Page, name: string) => page.locator('#my-chats li[data-chat-id]', { hasText: name });
      const ann = await openPage({ width: 1100, height: 700 }, app.url);
      await signUpInPage(ann, 'Ann');
      for (const name of ['Alpha', 'Beta']) {
        await ann.getByLabel('New chat').fill(name);
        await ann.getByRole('button', { name: 'Create' }).click();
        await ann.locator('#chat-title', { hasText: name }).waitFor();
      }

      const bob = await openPage({ width: 1100, height: 700 }, app.url);
      await signUpInPage(bob, 'Bob');
      // A chat created while Bob's page is open shows up among the chats to join.
      await ann.getByLabel('New chat').fill('Gamma');
      await ann.getByRole('button', { name: 'Create' }).click();
      await bob.getByRole('button', { name: 'Join Gamma' }).waitFor();
      for (const name of ['Alpha', 'Beta']) {
        await bob.getByRole('button', { name: `Join ${name}` }).click();
        await bob.locator('#chat-title', { hasText: name }).waitFor();
      }
      await bob.locator('#my-chats a', { hasText: 'Alpha' }).click();
      await bob.locator('#chat-title', { hasText: 'Alpha' }).waitFor();

      // Ann writes in Beta, which Bob is not looking at: its badge and preview rise, and it moves to the top.
      await ann.locator('#my-chats a', { hasText: 'Beta' }).click();
      await ann.locator('#chat-title', { hasText: 'Beta' }).waitFor();
      for (const text of ['Are you there?', 'News in Beta']) {
        await ann.locator('#message-input').fill(text);
        await ann.locator('#message-input').press('Enter');
        await message(ann, text).waitFor();
      }
      await listed(bob, 'Beta').locator('.unread-count', { hasText: '2' }).waitFor();
      await listed(bob, 'Beta').locator('.preview', { hasText: 'Ann: News in Beta' }).waitFor();
      await bob.waitForFunction(() => document.querySelector('#my-chats li[data-chat-id] a')?.textContent === 'Beta');
      await bob.locator('nav.chats').screenshot({ path: join(ARTIFACTS, 'chat-list.png') });

      // Opening Beta reads it: the badge goes, and Ann sees who has seen her newest message.
      await bob.locator('#my-chats a', { hasText: 'Beta' }).click();
      await message(bob, 'News in Beta').waitFor();
      await listed(bob, 'Beta').locator('.unread-count').waitFor({ state: 'detached' });
      await ann.locator('#seen-by', { hasText: 'Seen by Bob' }).waitFor();
      // His read position is the newest message on screen.
      const reads = await db.query<{ last_read_seq: number }>(
        `SELECT cm.last_read_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id JOIN users u ON u.id = cm.user_id
         WHERE c.room_name = 'Beta' AND u.first_name = 'Bob'`,
      );
      expect(reads).toEqual([{ last_read_seq: 2 }]);

      await ann.context().close();
      await bob.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'resumes after the connection drops from the newest seq shown, with no gap and no repeat, and reads the lists again',
    async () => {
      const carol = await signUp(app.url, 'Carol');
      const dan = await signUp(app.url, 'Dan');
      const chatId = await createChat(app.url, carol, 'flaky network');
      await joinChat(app.url, dan, chatId);
      await sendMessage(app.url, carol, chatId, 'message one');

      // Dan's page reaches the app through a proxy the test can cut; Carol talks to the app directly.
      const appPort = Number(new URL(app.url).port);
      const proxy = new TcpProxy(appPort, await freePort());
      await proxy.open();
      const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
      // Signed in already: the page starts from the token in localStorage, as after a reload.
      await context.addInitScript((token) => localStorage.setItem('chat.token', token), dan.token);
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      const subscribedAfter: unknown[] = [];
      page.on('websocket', (socket) =>
        socket.on('framesent', ({ payload }) => {
          const frame = JSON.parse(String(payload)) as {
            type: string;
            payload?: { query?: string; variables?: { afterSeq?: unknown } };
          };
          if (frame.type === 'subscribe' && frame.payload?.query?.includes('messageAdded')) {
            subscribedAfter.push(frame.payload.variables?.afterSeq);
          }
        }),
      );
      await page.goto(`http://127.0.0.1:${proxy.port}/#chat=${chatId}`);
      await message(page, 'message one').waitFor();
      await member(page, 'Dan (you)').waitFor();
      await sendMessage(app.url, carol, chatId, 'message two');
      await message(page, 'message two').waitFor();

      await proxy.cut();
      await page.locator('#connection', { hasText: 'Offline' }).waitFor();
      await sendMessage(app.url, carol, chatId, 'message three');
      await sendMessage(app.url, carol, chatId, 'message four');
      // Its publicChatCreated event goes out while Dan's page is away: the lists are read again on reconnect.
      await createChat(app.url, carol, 'made while Dan was offline');
      await proxy.open();
      await message(page, 'message four').waitFor();
      await page.getByRole('button', { name: 'Join made while Dan was offline' }).waitFor();
      await sendMessage(app.url, carol, chatId, 'message five');
      await message(page, 'message five').waitFor();

      expect(
        await page.locator('#messages li').evaluateAll((items) => items.map((item) => item.getAttribute('data-seq'))),
      ).toEqual(['1', '2', '3', '4', '5']);
      // The first subscription started after the history page; the retry asked only for what came after seq 2.
      expect(subscribedAfter.slice(0, 2)).toEqual([1, 2]);
      await context.close();
      await proxy.cut();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'signs up with Enter in the Name field, and words failures for people instead of showing error codes',
    async () => {
      const page = await openPage({ width: 1100, height: 700 }, app.url);
      const email = `eve.${Date.now()}@example.com`;
      const errorText = page.locator('#error-text');
      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByLabel(/^Name/).fill('Eve');
      await page.getByLabel(/^Name/).press('Enter');
      await page.locator('#account-name', { hasText: 'Eve' }).waitFor();
      expect(await page.locator('#error').isHidden()).toBe(true);

      // Enter in the password field still signs in; a wrong password says so in words.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByLabel('Password').fill('not the password');
      await page.getByLabel('Password').press('Enter');
      await errorText.filter({ hasText: 'Wrong email or password.' }).waitFor();

      // Signing up again with the same email keeps the server's own explanation.
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByLabel(/^Name/).fill('Eve');
      await page.getByRole('button', { name: 'Sign up' }).click();
      await errorText.filter({ hasText: 'Email is already registered.' }).waitFor();

      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#workspace').waitFor();
      await page.getByLabel('New chat').fill('Errors');
      await page.getByRole('button', { name: 'Create' }).click();
      await page.locator('#chat-title', { hasText: 'Errors' }).waitFor();
      await page.getByLabel('Add by email').fill(`nobody.${Date.now()}@example.com`);
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await errorText.filter({ hasText: 'Nobody has this email.' }).waitFor();

      // A chat the viewer is not in, opened from a link.
      const owner = await signUp(app.url, 'Olga');
      const secret = await createChat(app.url, owner, 'not yours', true);
      await page.evaluate((id) => (location.hash = `chat=${id}`), secret);
      await errorText.filter({ hasText: 'You are not a member of this chat.' }).waitFor();
      expect(await errorText.textContent()).not.toMatch(/[A-Z]{2,}_[A-Z]|FORBIDDEN|UNAUTHENTICATED/);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'adds someone to a private chat by email; who leaves it, on a phone, loses it from the list and sees nothing more of it',
    async () => {
      const listed = (page: Page, name: string) => page.locator('#my-chats li[data-chat-id]', { hasText: name });
      const ann = await openPage({ width: 1100, height: 800 }, app.url);
      await signUpInPage(ann, 'Ann');
      await ann.getByLabel('New chat').fill('Plans');
      await ann.getByLabel('Private').check();
      await ann.getByRole('button', { name: 'Create' }).click();
      await ann.locator('#chat-title', { hasText: 'Plans' }).waitFor();
      const chatId = new URL(ann.url()).hash.replace('#chat=', '');

      const bob = await signUp(app.url, 'Bob');
      await ann.getByLabel('Add by email').fill(bob.email);
      await ann.getByRole('button', { name: 'Add', exact: true }).click();
      await ann.locator('#roster li', { hasText: 'Bob' }).waitFor();
      await ann.locator('#message-input').fill('Plans for Friday?');
      await ann.locator('#message-input').press('Enter');

      const phone = await openAs(bob, { width: 390, height: 844 });
      const seen: string[] = [];
      phone.on('websocket', (socket) => socket.on('framereceived', ({ payload }) => seen.push(String(payload))));
      await phone.locator('#my-chats a', { hasText: 'Plans' }).click();
      await message(phone, 'Plans for Friday?').waitFor();
      await phone.locator('#message-input').fill('Count me in');
      await phone.locator('#message-input').press('Enter');
      // The creator's list follows the chat she made: Bob's message is its preview there.
      await listed(ann, 'Plans').locator('.preview', { hasText: 'Bob: Count me in' }).waitFor();

      // On a phone the members, and leaving, are one tap away from the chat.
      await phone.getByRole('button', { name: 'Members' }).click();
      await phone.getByRole('button', { name: 'Leave this chat' }).click();
      await phone.locator('#my-chats').waitFor();
      await listed(phone, 'Plans').waitFor({ state: 'detached' });
      await member(ann, 'Bob').waitFor({ state: 'detached' });
      // Ann's Members panel, open all along, no longer lists him.
      await ann.locator('#roster li', { hasText: 'Bob' }).waitFor({ state: 'detached' });

      await ann.locator('#message-input').fill('Bob is out, then');
      await ann.locator('#message-input').press('Enter');
      await message(ann, 'Bob is out, then').waitFor();
      // Coming back by its address shows nothing of it either.
      await phone.evaluate((id) => (location.hash = `chat=${id}`), chatId);
      await phone.locator('#error-text', { hasText: 'You are not a member of this chat.' }).waitFor();
      expect(await phone.locator('#messages li').count()).toBe(0);
      expect(seen.filter((frame) => frame.includes('Bob is out, then'))).toEqual([]);
      expect(await phone.locator('#my-chats').textContent()).not.toContain('Plans');

      await ann.context().close();
      await phone.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'says when a chat is empty, and who is typing right by the composer; the README’s screenshots',
    async () => {
      const [ann, bob, carol, dan] = await Promise.all(
        ['Ann', 'Bob', 'Carol', 'Dan'].map((name) => signUp(app.url, name)),
      );
      const chatId = await createChat(app.url, ann, 'Weekend trip');
      const desk = await openAs(ann, { width: 1280, height: 800 }, `#chat=${chatId}`);
      await desk.locator('#no-messages', { hasText: 'No messages yet' }).waitFor();

      await joinChat(app.url, bob, chatId);
      const phone = await openAs(bob, { width: 390, height: 844 }, `#chat=${chatId}`);
      await phone.locator('#no-messages', { hasText: 'No messages yet' }).waitFor();
      const sockets: WsClientHandle[] = [];
      for (const user of [carol, dan]) {
        await joinChat(app.url, user, chatId);
        sockets.push(await presentIn(user, chatId));
      }
      await member(desk, 'Dan').waitFor();
      // They joined after Ann's page read the roster: it lists them once they show up.
      for (const name of ['Bob', 'Carol', 'Dan']) await desk.locator('#roster li', { hasText: name }).waitFor();

      const typing = (page: Page, text: string) => page.locator('#typing-status', { hasText: text }).waitFor();
      await setTyping(carol, chatId, true);
      await typing(desk, 'Carol is typing…');
      await typing(phone, 'Carol is typing…');
      await setTyping(dan, chatId, true);
      await typing(desk, 'Carol and Dan are typing…');
      await phone.locator('#message-input').pressSequentially('Saturday works');
      await typing(desk, 'Several people are typing…');
      // Nobody is told of their own typing.
      await typing(phone, 'Carol and Dan are typing…');

      // The first message ends the empty state on every page, and sending clears its author's typing.
      await sendMessage(app.url, carol, chatId, 'Who is in for the lake on Saturday?');
      await message(desk, 'Who is in for the lake').waitFor();
      await message(phone, 'Who is in for the lake').waitFor();
      expect(await desk.locator('#no-messages').isHidden()).toBe(true);
      expect(await phone.locator('#no-messages').isHidden()).toBe(true);
      await typing(desk, 'Bob and Dan are typing…');
      await phone.locator('#message-input').press('Enter');
      await typing(desk, 'Dan is typing…');
      await desk.locator('#message-input').fill('Me too! I can drive two people.');
      await desk.locator('#message-input').press('Enter');
      await message(phone, 'I can drive').waitFor();
      await sendMessage(app.url, dan, chatId, 'I’ll bring the snacks');
      await setTyping(dan, chatId, true);
      await typing(desk, 'Dan is typing…');
      await typing(phone, 'Dan is typing…');
      // Ann is looking at the chat, so Dan's message is read and leaves no badge.
      await desk.locator('#my-chats .unread-count').waitFor({ state: 'detached' });
      await desk.screenshot({ path: join(ARTIFACTS, 'chat-desktop.png') });
      await phone.screenshot({ path: join(ARTIFACTS, 'chat-phone.png') });

      await setTyping(dan, chatId, false);
      await desk.waitForFunction(() => document.getElementById('typing-status')?.textContent === '');
      await Promise.all(sockets.map((socket) => socket.dispose()));
      await desk.context().close();
      await phone.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows the open chat, not the list, on a phone: list, chat and members one at a time, no sideways scrolling',
    async () => {
      const [ann, bob] = await Promise.all([signUp(app.url, 'Ann'), signUp(app.url, 'Bob')]);
      const chatId = await createChat(app.url, ann, 'Pocket');
      await joinChat(app.url, bob, chatId);
      for (let i = 1; i <= 12; i++) await sendMessage(app.url, ann, chatId, `message ${i} ${'word '.repeat(i * 3)}`);
      await sendMessage(app.url, ann, chatId, `a long link https://example.com/${'x'.repeat(300)}`);

      const phone = await openAs(bob, { width: 390, height: 844 });
      const visible = (selector: string) => phone.locator(selector).isVisible();
      const noSidewaysScroll = () =>
        phone.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
      await phone.locator('#my-chats a', { hasText: 'Pocket' }).waitFor();
      expect(await visible('#messages')).toBe(false);
      expect(await noSidewaysScroll()).toBe(true);

      await phone.locator('#my-chats a', { hasText: 'Pocket' }).click();
      await message(phone, 'a long link').waitFor();
      expect(await visible('#my-chats')).toBe(false);
      expect(await visible('#create-chat-form')).toBe(false);
      expect(await noSidewaysScroll()).toBe(true);
      // The newest message and the composer are on the first screen, with no scrolling of the page.
      for (const selector of ['#chat-title', '#message-input', '#messages li:last-child']) {
        const box = await phone.locator(selector).boundingBox();
        expect(box).not.toBeNull();
        expect(box!.y).toBeGreaterThanOrEqual(0);
        expect(box!.y + box!.height).toBeLessThanOrEqual(844);
        expect(box!.x + box!.width).toBeLessThanOrEqual(390);
      }
      expect(await phone.evaluate(() => document.documentElement.scrollHeight)).toBeLessThanOrEqual(844);

      await phone.getByRole('button', { name: 'Members' }).click();
      await phone.locator('#roster li', { hasText: 'Ann' }).waitFor();
      expect(await visible('#messages')).toBe(false);
      expect(await noSidewaysScroll()).toBe(true);
      await phone.getByRole('button', { name: 'Back to the chat' }).click();
      await message(phone, 'a long link').waitFor();

      await phone.getByRole('link', { name: 'Chats' }).click();
      await phone.locator('#my-chats').waitFor();
      expect(await visible('#messages')).toBe(false);
      await phone.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps muted text at WCAG AA contrast (4.5:1) against what is behind it, in light and dark',
    async () => {
      const [ann, bob] = await Promise.all([signUp(app.url, 'Ann'), signUp(app.url, 'Bob')]);
      const chatId = await createChat(app.url, ann, 'Shades');
      await createChat(app.url, bob, 'Still empty', true);
      await joinChat(app.url, bob, chatId);
      const edited = await sendMessage(app.url, bob, chatId, 'Typo hree');
      ok(
        await gql(
          app.url,
          'mutation($id: ID!) { editMessage(id: $id, content: "Typo here") { id } }',
          { id: edited.id },
          bob.token,
        ),
      );
      const gone = await sendMessage(app.url, ann, chatId, 'Never mind');
      ok(await gql(app.url, 'mutation($id: ID!) { deleteMessage(id: $id) { id } }', { id: gone.id }, ann.token));
      const last = await sendMessage(app.url, bob, chatId, 'Read this, Ann');
      ok(
        await gql(
          app.url,
          'mutation($c: ID!, $s: Int!) { markRead(chatId: $c, seq: $s) }',
          { c: chatId, s: last.seq },
          ann.token,
        ),
      );
      const annSocket = await presentIn(ann, chatId);

      for (const scheme of ['light', 'dark'] as const) {
        const page = await openAs(bob, { width: 1280, height: 800 }, `#chat=${chatId}`, scheme);
        await message(page, 'Read this, Ann').waitFor();
        await setTyping(ann, chatId, true);
        await page.locator('#typing-status', { hasText: 'Ann is typing…' }).waitFor();
        await page.locator('#connection', { hasText: 'Live' }).waitFor();
        await page.locator('#seen-by', { hasText: 'Seen by' }).waitFor();
        const signedIn = await contrasts(page);

        const signedOut = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: scheme });
        const authPage = await signedOut.newPage();
        await authPage.goto(app.url);
        await authPage.locator('#auth').waitFor();
        const auth = await contrasts(authPage);

        const checked = [...signedIn, ...auth];
        // The muted text is among what was measured: previews, times, "edited", tombstones, badges, hints.
        for (const selector of MUTED) {
          expect({ scheme, selector, measured: checked.some((entry) => entry.matches.includes(selector)) }).toEqual({
            scheme,
            selector,
            measured: true,
          });
        }
        expect({ scheme, below: checked.filter((entry) => entry.ratio < 4.5) }).toEqual({ scheme, below: [] });
        await setTyping(ann, chatId, false);
        await page.context().close();
        await signedOut.close();
      }
      await annSocket.dispose();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serves an offline IDE at GET /graphql whose subscriptions authenticate from the headers editor',
    async () => {
      const user = await signUp(app.url, 'Ida');
      const chatId = await createChat(app.url, user, 'ide room');
      await sendMessage(app.url, user, chatId, 'sent before the IDE');

      const ide = await openPage({ width: 1280, height: 800 }, `${app.url}/graphql`);
      await ide.locator('.graphiql-container').waitFor();
      await setEditor(ide, 'token from signIn', JSON.stringify({ Authorization: `Bearer ${user.token}` }));
      await setEditor(
        ide,
        'mutation SignIn',
        `subscription Live {\n  messageAdded(chatId: "${chatId}", afterSeq: 0) { seq content user { firstName } }\n}`,
      );
      // GraphiQL picks up the operation name a moment after an edit; its tab shows it once it has.
      await ide.locator('.graphiql-tab-active', { hasText: 'Live' }).waitFor();
      await ide.locator('.graphiql-execute-button').click();
      // The replayed message proves the subscription is live before the next one is sent.
      await responseContains(ide, 'sent before the IDE');
      await sendMessage(app.url, user, chatId, 'sent over HTTP while the IDE listens');
      await responseContains(ide, 'sent over HTTP while the IDE listens');
      await ide.screenshot({ path: join(ARTIFACTS, 'ide.png') });
      await ide.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it('keeps POST and GET ?query= on /graphql for API clients', async () => {
    const html = await fetch(`${app.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(html.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const get = await fetch(`${app.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'text/html, application/json', 'apollo-require-preflight': 'true' },
    });
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
    const missing = await fetch(`${app.url}/no-such-file.js`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).not.toMatch(/dist|public|node_modules|at \w+ \(/);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface CodeMirrorElement extends Element {
  CodeMirror?: { getValue(): string; setValue(value: string): void };
}

/** Replaces the text of the GraphiQL editor that currently contains `marker`, through CodeMirror's own API. */
async function setEditor(page: Page, marker: string, value: string): Promise<void> {
  await page.waitForFunction(
    ([text, next]) => {
      const editor = Array.from(document.querySelectorAll<CodeMirrorElement>('.CodeMirror'))
        .map((element) => element.CodeMirror)
        .find((codeMirror) => codeMirror?.getValue().includes(text));
      editor?.setValue(next);
      return editor !== undefined;
    },
    [marker, value] as const,
    { timeout: WAIT_MS },
  );
}

async function responseContains(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (expected) =>
      document
        .querySelector<CodeMirrorElement>('.graphiql-response .CodeMirror')
        ?.CodeMirror?.getValue()
        .includes(expected) ?? false,
    text,
    { timeout: WAIT_MS },
  );
}

/** What contrasts() measures of one element that shows text. */
interface Contrast {
  text: string;
  ratio: number;
  /** Which of MUTED's selectors the element matches. */
  matches: string[];
}

/** The page's quieter text, which the contrast check must have measured. */
const MUTED = [
  '.preview',
  '.meta time',
  '.edited',
  '.deleted .content',
  '.badge',
  '.seen-by',
  '.typing-status',
  '.connection',
  '.empty',
  '.hint',
  'button.link',
];

/**
 * The WCAG contrast ratio of every visible element with text of its own: its computed colour against what is
 * behind it, that is its background and its ancestors' composited over the page's canvas colour.
 */
async function contrasts(page: Page): Promise<Contrast[]> {
  return page.evaluate((muted) => {
    type Rgba = [number, number, number, number];
    const parse = (css: string): Rgba => {
      const match = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(css);
      if (!match) throw new Error(`unexpected colour ${css}`);
      return [Number(match[1]), Number(match[2]), Number(match[3]), match[4] === undefined ? 1 : Number(match[4])];
    };
    const over = (top: Rgba, below: Rgba): Rgba => [
      top[0] * top[3] + below[0] * (1 - top[3]),
      top[1] * top[3] + below[1] * (1 - top[3]),
      top[2] * top[3] + below[2] * (1 - top[3]),
      1,
    ];
    const luminance = ([r, g, b]: Rgba) => {
      const channel = (value: number) => {
        const c = value / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const probe = document.createElement('div');
    probe.style.background = 'Canvas';
    document.body.append(probe);
    const canvas = parse(getComputedStyle(probe).backgroundColor);
    probe.remove();
    const behind = (element: Element): Rgba => {
      const layers: Rgba[] = [];
      for (let at: Element | null = element; at; at = at.parentElement) {
        const layer = parse(getComputedStyle(at).backgroundColor);
        if (layer[3] > 0) layers.push(layer);
        if (layer[3] === 1) break;
      }
      return layers.reduceRight((below, layer) => over(layer, below), canvas);
    };
    const results: { text: string; ratio: number; matches: string[] }[] = [];
    for (const element of Array.from(document.body.querySelectorAll('*'))) {
      const own = Array.from(element.childNodes)
        .filter((node) => node.nodeType === Node.TEXT_NODE)
        .map((node) => node.textContent ?? '')
        .join('')
        .trim();
      const style = getComputedStyle(element);
      if (!own || !element.getClientRects().length || style.visibility !== 'visible') continue;
      if (element.closest('.visually-hidden')) continue;
      const background = behind(element);
      const foreground = over(parse(style.color), background);
      const [light, dark] = [luminance(foreground), luminance(background)].sort((a, b) => b - a);
      results.push({
        text: own.slice(0, 40),
        ratio: Math.round(((light + 0.05) / (dark + 0.05)) * 100) / 100,
        matches: muted.filter((selector) => element.matches(selector)),
      });
    }
    return results;
  }, MUTED);
}
