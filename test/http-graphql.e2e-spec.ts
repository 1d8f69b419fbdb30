import { randomUUID } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { AppProcess } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_KEY_PREFIX, TEST_REDIS_URL } from './support/env';
import { createChat, signUp, TestUser } from './support/gql';
import { eventually } from './support/presence';
import { connect } from './support/ws';

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/** POST /graphql, as clients send it. */
async function ask(
  url: string,
  body: string,
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body,
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const op = (query: string, variables?: Record<string, unknown>, operationName?: string) =>
  JSON.stringify({ query, variables, operationName });

const codeOf = (answer: Answer): unknown =>
  (JSON.parse(answer.body) as { errors?: { extensions?: { code?: unknown } }[] }).errors?.[0]?.extensions?.code;

describe('GraphQL over HTTP', () => {
  let db: TestDatabase;
  let app: AppProcess;
  let user: TestUser;
  let chatId: string;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'debug' });
    user = await signUp(app.url, 'Ann');
    chatId = await createChat(app.url, user, 'http');
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('answers queries through Apollo, as JSON, with a request id', async () => {
    const cases: [string, string, string | undefined, unknown][] = [
      ['a query', op('{ me { id firstName } }'), user.token, { data: { me: { id: user.id, firstName: 'Ann' } } }],
      [
        'a query with variables and an operation name',
        op('query Q($id: ID!) { chat(id: $id) { id roomName } }', { id: chatId }, 'Q'),
        user.token,
        { data: { chat: { id: chatId, roomName: 'http' } } },
      ],
      ['__typename only', op('{ __typename }'), undefined, { data: { __typename: 'Query' } }],
    ];
    for (const [name, body, token, expected] of cases) {
      const answer = await ask(app.url, body, { token });
      expect([name, answer.status, JSON.parse(answer.body)]).toEqual([name, 200, expected]);
      expect([name, answer.headers.get('content-type')]).toEqual([name, 'application/json; charset=utf-8']);
      expect(answer.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    for (const [name, body, token, code] of [
      ['no token for a guarded field', op('{ me { id } }'), undefined, 'UNAUTHENTICATED'],
      ['a domain error', op('query($id: ID!) { chat(id: $id) { id } }', { id: randomUUID() }), user.token, 'NOT_FOUND'],
      ['a bad argument', op('{ chat(id: "not-a-uuid") { id } }'), user.token, 'NOT_FOUND'],
    ] as const) {
      const answer = await ask(app.url, body, { token });
      expect([name, answer.status, codeOf(answer)]).toEqual([name, 200, code]);
    }
  });

  it('answers GET ?query= with a token, or with a preflight header; refuses a GET a page elsewhere could send', async () => {
    const get = async (headers: Record<string, string>) => {
      const res = await fetch(`${app.url}/graphql?${new URLSearchParams({ query: '{ me { id } }' })}`, { headers });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const authorization = `Bearer ${user.token}`;
    expect(await get({ authorization })).toEqual({ status: 200, body: { data: { me: { id: user.id } } } });
    const unauthenticated = await get({ 'apollo-require-preflight': 'true' });
    expect([
      unauthenticated.status,
      (unauthenticated.body as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code,
    ]).toEqual([200, 'UNAUTHENTICATED']);
    const bare = await get({});
    expect([bare.status, JSON.stringify(bare.body)]).toEqual([400, expect.stringContaining('CSRF')]);
  });

  it('runs mutations once, as the viewer, and their effects are visible to the next request', async () => {
    const sent = await ask(
      app.url,
      op('mutation($input: SendMessageInput!) { sendMessage(input: $input) { seq content user { id } } }', {
        input: { chatId, content: 'over HTTP', clientId: 'http-1' },
      }),
      { token: user.token },
    );
    expect(sent.status).toBe(200);
    const message = (JSON.parse(sent.body) as { data: { sendMessage: { seq: number; user: { id: string } } } }).data
      .sendMessage;
    expect(message.user.id).toBe(user.id);
    const page = await ask(
      app.url,
      op('query($id: ID!) { chat(id: $id) { messages(last: 10) { edges { node { seq content } } } } }', { id: chatId }),
      { token: user.token },
    );
    const contents = (
      JSON.parse(page.body) as { data: { chat: { messages: { edges: { node: { content: string } }[] } } } }
    ).data.chat.messages.edges.map((edge) => edge.node.content);
    expect(contents.filter((content) => content === 'over HTTP')).toHaveLength(1);
  });

  it("refuses what is not a runnable operation with Apollo's statuses and codes", async () => {
    const token = user.token;
    const cases: [string, () => Promise<Answer>, number, string][] = [
      ['syntax error', () => ask(app.url, op('{ me { id '), { token }), 400, 'GRAPHQL_PARSE_FAILED'],
      ['unknown field', () => ask(app.url, op('{ nope }'), { token }), 400, 'GRAPHQL_VALIDATION_FAILED'],
      [
        'wrong variable type',
        () => ask(app.url, op('query($id: ID!) { chat(id: $id) { id } }', { id: { a: 1 } }), { token }),
        400,
        'BAD_USER_INPUT',
      ],
      ['no query', () => ask(app.url, '{}', { token }), 400, 'BAD_REQUEST'],
      [
        'variables not an object',
        () => ask(app.url, '{"query":"{ me { id } }","variables":"x"}', { token }),
        400,
        'BAD_REQUEST',
      ],
      [
        'operation name not a string',
        () => ask(app.url, '{"query":"{ me { id } }","operationName":7}', { token }),
        400,
        'BAD_REQUEST',
      ],
      [
        'no operation by that name',
        () => ask(app.url, op('query A { me { id } }', undefined, 'B'), { token }),
        400,
        'OPERATION_RESOLUTION_FAILURE',
      ],
      ['a batch', () => ask(app.url, `[${op('{ me { id } }')}]`, { token }), 400, 'BAD_REQUEST'],
      [
        'a persisted query',
        () =>
          ask(app.url, JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'ab' } } }), { token }),
        200,
        'PERSISTED_QUERY_NOT_FOUND',
      ],
      [
        'a persisted query whose hash is not its text',
        () =>
          ask(
            app.url,
            JSON.stringify({
              query: '{ me { id } }',
              extensions: {
                persistedQuery: {
                  version: 1,
                  sha256Hash: 'ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38',
                },
              },
            }),
            { token },
          ),
        400,
        'BAD_REQUEST',
      ],
      [
        'a persisted query of an unknown version',
        () =>
          ask(app.url, JSON.stringify({ extensions: { persistedQuery: { version: 2, sha256Hash: 'ab' } } }), { token }),
        400,
        'BAD_REQUEST',
      ],
      [
        'a subscription',
        () =>
          ask(app.url, op('subscription($id: ID!) { messageAdded(chatId: $id) { seq } }', { id: chatId }), { token }),
        400,
        'BAD_REQUEST',
      ],
    ];
    for (const [name, request, status, code] of cases) {
      const answer = await request();
      expect([name, answer.status, codeOf(answer)]).toEqual([name, status, code]);
    }
    // A syntax error says where.
    const syntax = await ask(app.url, op('{ me { id '), { token });
    expect((JSON.parse(syntax.body) as { errors: { locations?: unknown }[] }).errors[0].locations).toEqual([
      { line: 1, column: 11 },
    ]);

    const negotiated = await ask(app.url, op('{ __typename }'), {
      headers: { accept: 'application/graphql-response+json' },
    });
    expect(negotiated.headers.get('content-type')).toBe('application/graphql-response+json; charset=utf-8');
    expect(negotiated.body).toBe('{"data":{"__typename":"Query"}}\n');
  });

  it('answers a request whose target is in the absolute form (http://host/graphql)', async () => {
    const { port } = new URL(app.url);
    const body = JSON.stringify({ query: '{ __typename }' });
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connectTcp(Number(port), '127.0.0.1', () =>
        socket.end(
          `POST http://127.0.0.1:${port}/graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        ),
      );
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('{"data":{"__typename":"Query"}}');
  });

  it('refuses a body that is not a JSON object with BAD_REQUEST, and stays up', async () => {
    for (const body of ['{"query": "{ me { id } ', 'null', '"a string"', '\uFEFF{"query":', 'x'.repeat(10)]) {
      const answer = await ask(app.url, body);
      expect([body, answer.status, codeOf(answer)]).toEqual([body, 400, 'BAD_REQUEST']);
    }
    const huge = await ask(app.url, op(`{ ${'a'.repeat(2 * 1024 * 1024)} }`));
    expect([huge.status, codeOf(huge)]).toEqual([413, 'BAD_REQUEST']);
    const withBom = await ask(app.url, `\uFEFF${op('{ __typename }')}`);
    expect([withBom.status, withBom.body]).toEqual([200, '{"data":{"__typename":"Query"}}\n']);
    expect((await ask(app.url, op('{ __typename }'))).status).toBe(200);
  });

  it('answers an unexpected failure as INTERNAL_SERVER_ERROR, logged once, without its SQL or parameters', async () => {
    const before = app.logs.length;
    // The database fails under the query: its table is gone for a moment.
    await db.query('ALTER TABLE chat_members RENAME TO chat_members_away');
    let answer: Answer;
    try {
      answer = await ask(app.url, op('{ chats { id } }'), { token: user.token });
    } finally {
      await db.query('ALTER TABLE chat_members_away RENAME TO chat_members');
    }
    expect([answer.status, codeOf(answer)]).toEqual([200, 'INTERNAL_SERVER_ERROR']);
    expect(answer.body).not.toContain('chat_members');
    const errors = app.logs
      .slice(before)
      .split('\n')
      .filter((line) => line.startsWith('{') && (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('does not exist');
    // The query's parameters (the viewer's id among them) and its text stay out of the log.
    expect(errors[0]).not.toContain(user.id);
    expect(errors[0]).not.toContain('SELECT');
  });

  it('keeps a sane X-Request-Id, replaces any other, and logs each request under its id', async () => {
    const kept = await ask(app.url, op('{ __typename }'), { headers: { 'x-request-id': 'trace-42.a_b' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.a_b');
    const replaced = await ask(app.url, op('{ __typename }'), { headers: { 'x-request-id': 'no spaces <allowed>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const line = await eventually(
      () =>
        Promise.resolve(
          app.logs.split('\n').find((l) => l.includes('"request completed"') && l.includes('"trace-42.a_b"')),
        ),
      (found) => found !== undefined,
      5_000,
    );
    const entry = JSON.parse(line!) as { req: { method: string; url: string }; res: { statusCode: number } };
    expect([entry.req.method, entry.req.url, entry.res.statusCode]).toEqual(['POST', '/graphql', 200]);
  });
});

describe('GraphQL over HTTP behind a proxy, with introspection off', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      GRAPHQL_INTROSPECTION: 'false',
      RATE_LIMIT_AUTH_PER_MINUTE: '3',
      TRUST_PROXY: 'loopback',
      // Its own counters: the first app of this file counts loopback's sign-ups against a larger limit.
      REDIS_KEY_PREFIX: `${TEST_KEY_PREFIX}behind-proxy:`,
    });
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('rate-limits sign-ins by the client address a trusted proxy forwards', async () => {
    const signIn = (address: string) =>
      ask(
        app.url,
        op('mutation { signIn(input: { email: "nobody@example.com", password: "wrong-password" }) { token } }'),
        {
          headers: { 'x-forwarded-for': address },
        },
      );
    const codes: unknown[] = [];
    for (let i = 0; i < 4; i++) codes.push(codeOf(await signIn('203.0.113.7')));
    expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
    // Another client behind the same proxy has its own budget.
    expect(codeOf(await signIn('203.0.113.8'))).toBe('UNAUTHENTICATED');
  });

  it('refuses introspection over HTTP and WebSocket alike', async () => {
    const query = '{ __schema { queryType { name } } }';
    const overHttp = await ask(app.url, op(query));
    expect([overHttp.status, codeOf(overHttp)]).toEqual([400, 'GRAPHQL_VALIDATION_FAILED']);
    const user = await signUp(app.url, 'Bo').catch(async () => {
      throw new Error('sign-up was rate limited: the budget above is per forwarded address, not for loopback');
    });
    const ws = connect(app.wsUrl, user.token);
    try {
      const errors = await new Promise<unknown>((resolve) => {
        ws.client.subscribe({ query }, { next: () => undefined, error: resolve, complete: () => resolve(null) });
      });
      expect((errors as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    } finally {
      await ws.dispose();
    }
    expect((await ask(app.url, op('{ __typename }'))).status).toBe(200);
  });
});

describe('GraphQL over HTTP with no proxy trusted (the default)', () => {
  let db: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    db = await TestDatabase.create();
    app = await AppProcess.start({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      RATE_LIMIT_AUTH_PER_MINUTE: '3',
      // Its own counters: the other app of this file has already signed someone up from loopback.
      REDIS_KEY_PREFIX: `${TEST_KEY_PREFIX}no-proxy:`,
    });
  });

  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('ignores X-Forwarded-For: a forged address per guess does not escape the limit', async () => {
    const codes: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await ask(
        app.url,
        op('mutation { signIn(input: { email: "nobody@example.com", password: "wrong-password" }) { token } }'),
        { headers: { 'x-forwarded-for': `198.51.100.${i}` } },
      );
      codes.push(codeOf(answer));
    }
    expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED', 'RATE_LIMITED']);
  });
});
