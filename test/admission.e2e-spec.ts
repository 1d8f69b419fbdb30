import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { createChat, signUp, TestUser } from './support/gql';
import { connect, WsClientHandle } from './support/ws';

/** Text no client should ever see: stack frames, SQL, driver or engine errors, file paths. */
const LEAKS =
  /(\bat \S+ \(|node_modules|\/work\/|\/src\/|\.ts:\d+|\.js:\d+|Maximum call stack|RangeError|TypeError|QueryFailedError|SELECT |INSERT |violates|TypeORM)/i;

type Transport = 'POST' | 'GET' | 'ws';

interface Answer {
  code: unknown;
  raw: string;
  status?: number;
}

interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  code: string;
  /** Mutations are not run over GET. */
  mutation?: boolean;
  /** Longer than Node's header limit as a URL: over GET the HTTP server refuses it (431) before GraphQL. */
  tooLongForUrl?: boolean;
}

function fragmentChain(levels: number): string {
  const fragments = Array.from({ length: levels }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`);
  return `query { ...F0 } ${fragments.join(' ')} fragment F${levels} on Query { __typename }`;
}

const aliases = (count: number, selection: string) =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${selection}`).join(' ')} }`;

/**
 * Every bad input the admission pipeline refuses, sent over POST /graphql, GET /graphql?query= and graphql-ws:
 * each transport gives the same code, and no answer carries a stack, SQL, engine text or a path.
 */
describe('one admission for every transport', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let user: TestUser;
  let chatId: string;
  let ws: WsClientHandle;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'debug' });
    user = await signUp(app.url, 'Ann');
    chatId = await createChat(app.url, user, 'admission');
    ws = connect(app.wsUrl, user.token);
  });

  afterAll(async () => {
    await ws?.dispose();
    await app?.stop();
    await db?.drop();
  });

  async function send(transport: Transport, query: string, variables?: Record<string, unknown>): Promise<Answer> {
    if (transport === 'ws') {
      const raw = await new Promise<string>((resolve) => {
        const seen: unknown[] = [];
        ws.client.subscribe(
          { query, variables },
          {
            next: (value) => seen.push(value),
            error: (error) => resolve(JSON.stringify({ errors: error })),
            complete: () => resolve(JSON.stringify(seen[0] ?? {})),
          },
        );
      });
      return { raw, code: codeIn(raw) };
    }
    const headers = { authorization: `Bearer ${user.token}`, 'apollo-require-preflight': 'true' };
    const res =
      transport === 'POST'
        ? await fetch(`${app.url}/graphql`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ query, variables }),
          })
        : await fetch(
            `${app.url}/graphql?${new URLSearchParams({ query, ...(variables ? { variables: JSON.stringify(variables) } : {}) })}`,
            { headers },
          );
    const raw = await res.text();
    expect(res.status).toBeLessThan(500);
    return { raw, code: codeIn(raw), status: res.status };
  }

  const cases = (): Case[] => [
    { name: 'a fragment chain of 40 levels', query: fragmentChain(40), code: 'GRAPHQL_VALIDATION_FAILED' },
    {
      name: 'a fragment costing a page of messages, spread under 300 aliases',
      query: `${aliases(300, 'chats { ...M }')} fragment M on Chat { messages(last: 100) { edges { node { content } } } }`,
      code: 'GRAPHQL_PARSE_FAILED',
    },
    { name: 'more aliases than allowed', query: aliases(31, 'me { id }'), code: 'GRAPHQL_VALIDATION_FAILED' },
    {
      name: 'more aliases of __typename than allowed',
      query: aliases(31, '__typename'),
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: "a subscription's root field skipped",
      query: 'subscription($c: ID!) { messageAdded(chatId: $c) @skip(if: true) { seq } }',
      variables: { c: 'CHAT' },
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: "a subscription's root field included by a variable",
      query: 'subscription($i: Boolean!) { inbox @include(if: $i) { chatId } }',
      variables: { i: true },
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: "a subscription's root field skipped in a fragment",
      query: 'subscription { ...F } fragment F on Subscription { inbox @skip(if: false) { chatId } }',
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'a list counted at the most it may return',
      query: '{ chats { messages(last: 100) { edges { node { content } } } } }',
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'lists without page arguments',
      query: '{ publicChats { members { id firstName } } }',
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'a page size given by a variable counts as the largest page',
      query: 'query($n: Int) { chats { messages(first: $n) { edges { node { content } } } } }',
      variables: { n: 1 },
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'a 50-level query',
      query: `{ chats { messages { edges { node { user { ${'a { '.repeat(45)}id${' }'.repeat(45)} } } } } } }`,
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: '5,000 nested selections',
      query: `{ ${'a { '.repeat(5000)}b${' }'.repeat(5000)} }`,
      code: 'GRAPHQL_PARSE_FAILED',
      tooLongForUrl: true,
    },
    {
      name: '3,000 nested lists in an argument',
      query: `{ chat(id: ${'['.repeat(3000)}1${']'.repeat(3000)}) { id } }`,
      code: 'GRAPHQL_PARSE_FAILED',
      tooLongForUrl: true,
    },
    { name: 'a syntax error', query: '{ me { id ', code: 'GRAPHQL_PARSE_FAILED' },
    { name: 'an unknown field', query: '{ nope }', code: 'GRAPHQL_VALIDATION_FAILED' },
    {
      name: 'a fragment cycle',
      query: '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'more directives than allowed',
      query: `{ me { ${Array.from({ length: 51 }, (_, i) => `f${i}: id @include(if: true)`).join(' ')} } }`,
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'an Int variable of 2^31',
      query: 'query($id: ID!, $n: Int) { chat(id: $id) { messages(first: $n) { edges { cursor } } } }',
      variables: { id: 'CHAT', n: 2 ** 31 },
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'an Int variable given a string',
      query: 'query($id: ID!, $n: Int) { chat(id: $id) { messages(first: $n) { edges { cursor } } } }',
      variables: { id: 'CHAT', n: 'abc' },
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'a missing required variable',
      query: 'query($id: ID!) { chat(id: $id) { id } }',
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'a String field given a number',
      query: 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      variables: { input: { chatId: 'CHAT', content: 5 } },
      code: 'BAD_USER_INPUT',
      mutation: true,
    },
    {
      name: 'an input missing a field',
      query: 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      variables: { input: { chatId: 'CHAT' } },
      code: 'BAD_USER_INPUT',
      mutation: true,
    },
  ];

  it('refuses each bad input with the same code over POST, GET and graphql-ws, and leaks nothing', async () => {
    const seen: string[] = [];
    for (const c of cases()) {
      const variables =
        c.variables &&
        (JSON.parse(JSON.stringify(c.variables).replace(/"CHAT"/g, JSON.stringify(chatId))) as Record<string, unknown>);
      for (const transport of ['POST', 'GET', 'ws'] as Transport[]) {
        if (transport === 'GET' && c.mutation) continue;
        const answer = await send(transport, c.query, variables);
        if (transport === 'GET' && c.tooLongForUrl) {
          expect([c.name, answer.status]).toEqual([c.name, 431]);
          continue;
        }
        seen.push(`${c.name} over ${transport}: ${String(answer.code)}`);
        expect(`${c.name} over ${transport}: ${String(answer.code)}`).toBe(`${c.name} over ${transport}: ${c.code}`);
        expect(answer.raw).not.toMatch(LEAKS);
      }
    }
    expect(seen.length).toBeGreaterThan(40);
    // The process answered every one of them and still serves.
    expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
  });

  it('answers what is within the limits on every transport', async () => {
    const query = 'query($id: ID!) { chat(id: $id) { id messages(last: 100) { edges { node { id content } } } } }';
    for (const transport of ['POST', 'GET', 'ws'] as Transport[]) {
      const answer = await send(transport, query, { id: chatId });
      expect([transport, answer.code]).toEqual([transport, undefined]);
      expect(JSON.parse(answer.raw)).toMatchObject({ data: { chat: { id: chatId } } });
    }
  });

  it('exempts introspection from the depth limit, a type looked up by name as much as the whole schema', async () => {
    const ofTypes = (levels: number): string => (levels ? `name ofType { ${ofTypes(levels - 1)} }` : 'name');
    const deep = `fields { type { ${ofTypes(9)} } }`;
    for (const query of [
      `{ __type(name: "Chat") { ${deep} } }`,
      `{ ...T } fragment T on Query { __type(name: "Chat") { ${deep} } }`,
    ]) {
      for (const transport of ['POST', 'GET', 'ws'] as Transport[]) {
        const answer = await send(transport, query);
        expect([transport, answer.code]).toEqual([transport, undefined]);
        const { data } = JSON.parse(answer.raw) as { data: { __type: { fields: unknown[] } } };
        expect(data.__type.fields.length).toBeGreaterThan(0);
      }
    }
    // What is not introspection beside it still counts.
    const beside = `{ __type(name: "Chat") { name } me { a { b { c { d { e { f { g { h { i { j } } } } } } } } } } }`;
    const refused = await send('POST', beside);
    expect(refused.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.raw).toMatch(/deeper than the limit/);
  });

  it('answers variables with many mistakes with one short BAD_USER_INPUT on every transport', async () => {
    // Each unknown field is a mistake, and graphql-js quotes the whole value in each: up to 50 quotes per answer.
    const unknown = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`unknown${i}`, i]));
    const signUpWith = 'mutation($input: SignUpInput!) { signUp(input: $input) { token } }';
    const input = { email: 'many@example.com', firstName: 'Many', password: 'password123', ...unknown };
    const chatAs = 'query($id: ID!) { chat(id: $id) { id } }';
    for (const [transport, query, variables] of [
      ['POST', signUpWith, { input }],
      ['ws', signUpWith, { input }],
      ['GET', chatAs, { id: unknown }],
      ['POST', chatAs, { id: unknown }],
      ['ws', chatAs, { id: unknown }],
    ] as [Transport, string, Record<string, unknown>][]) {
      const answer = await send(transport, query, variables);
      const errors = (JSON.parse(answer.raw) as { errors: { extensions: { code: string } }[] }).errors;
      expect([transport, errors.map((error) => error.extensions.code)]).toEqual([transport, ['BAD_USER_INPUT']]);
      expect(answer.raw.length).toBeLessThan(1000);
      if (answer.status !== undefined) expect(answer.status).toBe(400);
    }
    // Nothing was signed up.
    const taken = await send('POST', signUpWith, {
      input: { email: 'many@example.com', firstName: 'M', password: 'password123' },
    });
    expect(taken.code).toBeUndefined();
  });

  it('logs no client mistake at error level, and no password, over WebSocket or HTTP', async () => {
    const password = 'never-in-a-log-4e1f';
    const signIn = 'mutation($input: SignInInput!) { signIn(input: $input) { token } }';
    const badInputs = [{ email: 'ann@example.com', password, extra: 1 }, { email: 5, password }, { password }];
    for (const input of badInputs) {
      for (const transport of ['POST', 'ws'] as Transport[]) {
        const answer = await send(transport, signIn, { input });
        expect([transport, answer.code]).toEqual([transport, 'BAD_USER_INPUT']);
      }
      // Over GET a mutation is refused, and its variables are in the URL: they must not reach the log either.
      await send('GET', signIn, { input });
    }
    // A password in the document beside an operation graphql-js cannot validate without throwing.
    const beside = `mutation M { signIn(input: { email: "ann@example.com", password: "${password}" }) { token } } subscription S($i: Boolean!) { inbox @include(if: $i) { chatId } }`;
    for (const transport of ['POST', 'ws'] as Transport[]) {
      expect([transport, (await send(transport, beside, { i: true })).code]).toEqual([
        transport,
        'GRAPHQL_VALIDATION_FAILED',
      ]);
    }
    const all = app.logs.split('\n');
    expect(all.filter((line) => line.includes(password))).toEqual([]);
    expect(all.filter((line) => line.includes(user.token))).toEqual([]);
    const lines = all.filter((line) => line.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)).toEqual([]);
  });
});

function codeIn(raw: string): unknown {
  try {
    const body = JSON.parse(raw) as { errors?: { extensions?: { code?: unknown } }[] };
    return body.errors?.[0]?.extensions?.code;
  } catch {
    return `not JSON: ${raw.slice(0, 100)}`;
  }
}
