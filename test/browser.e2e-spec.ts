/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, joinChat, sendMessage, signUp } from './support/gql';
import { TcpProxy } from './support/tcp-proxy';

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

      // Bob on a phone-sized screen: the layout collapses to one column.
      const bob = await openPage({ width: 390, height: 844 }, app.url);
      await signUpInPage(bob, 'Bob');
      await bob.getByRole('button', { name: 'Join Lobby' }).click();
      await bob.locator('#chat-title', { hasText: 'Lobby' }).waitFor();

      await member(alice, 'Bob').waitFor();
      await member(bob, 'Alice').waitFor();
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
      await member(bob, 'Alice').waitFor();
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

      // Ann owns the chat: she deletes Bob's message, and it turns into a tombstone for both, in place.
      await message(ann, 'Thanks!').getByRole('button', { name: 'Delete' }).click();
      await message(bob, 'Message deleted').waitFor();
      await message(ann, 'Message deleted').waitFor();
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
    'resumes after the connection drops from the newest seq shown, with no gap and no repeat',
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
      await proxy.open();
      await message(page, 'message four').waitFor();
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
