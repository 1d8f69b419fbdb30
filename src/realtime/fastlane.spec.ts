import {
  buildSchema,
  DocumentNode,
  ExecutionArgs,
  ExecutionResult,
  GraphQLObjectType,
  GraphQLSchema,
  parse,
} from 'graphql';
import { AsyncQueue } from '../common/async-queue';
import { ownValue } from '../common/own-value';
import { RequestContext } from '../common/request-context';
import { ownView, SharedEvent } from '../common/shared-event';
import { Fastlane, FastlaneTarget } from './fastlane';

/** Marks a subscription field as SharedEvents declares it. */
function sharing(schema: GraphQLSchema, field: string): GraphQLSchema {
  Object.assign(schema.getSubscriptionType()!.getFields()[field], { extensions: { sharedEvents: true } });
  return schema;
}

const schema = sharing(
  buildSchema(`
    type Message { seq: Int! content: String! }
    type Query { ping: Int }
    type Subscription { messageAdded(chatId: ID!, afterSeq: Int): Message!  presence(chatId: ID!): Int }
  `),
  'messageAdded',
);

const target: FastlaneTarget = { operationId: '1', viewerId: null, send: () => undefined, formatErrors: () => [] };

function routes(query: string, operationName?: string): boolean {
  const args: ExecutionArgs = { schema, document: parse(query), operationName };
  return new Fastlane().route(args, target);
}

describe('Fastlane.route', () => {
  it('takes a subscription field that declares shared events, whose selection reads no variable', () => {
    expect(routes('subscription($c: ID!, $a: Int) { messageAdded(chatId: $c, afterSeq: $a) { seq content } }')).toBe(
      true,
    );
    expect(routes('subscription { m: messageAdded(chatId: "1") { ...F } } fragment F on Message { seq }')).toBe(true);
  });

  it('leaves everything else to graphql-js', () => {
    expect(routes('{ ping }')).toBe(false);
    expect(routes('subscription { presence(chatId: "1") }')).toBe(false);
    expect(routes('subscription { messageAdded(chatId: "1") { seq } presence(chatId: "1") }')).toBe(false);
    expect(routes('subscription($s: Boolean!) { messageAdded(chatId: "1") @include(if: $s) { seq } }')).toBe(false);
    expect(routes('subscription($s: Boolean!) { messageAdded(chatId: "1") { seq @skip(if: $s) } }')).toBe(false);
    expect(
      routes(`subscription($s: Boolean!) { messageAdded(chatId: "1") { ...A } }
        fragment A on Message { ...B } fragment B on Message { content @include(if: $s) }`),
    ).toBe(false);
  });

  it('decides per operation of a document', () => {
    const doc = 'subscription A { messageAdded(chatId: "1") { seq } } query B { ping }';
    expect(routes(doc, 'A')).toBe(true);
    expect(routes(doc, 'B')).toBe(false);
  });
});

describe('Fastlane.subscribe with a source that pushes', () => {
  interface Event {
    messageAdded: { seq: number; content: string | (() => Promise<string>) };
  }

  // One parsed document, as the document cache gives every subscriber of the same query text.
  const document = parse('subscription { messageAdded(chatId: "1") { seq content } }');

  /** A subscriber on `source`: the frames it was sent, and graphql-ws's pending next(). */
  async function subscriber(fastlane: Fastlane, source: AsyncQueue<Event>, operationId: string) {
    const frames: string[] = [];
    const args: ExecutionArgs = {
      schema,
      document,
      rootValue: { messageAdded: () => source },
    };
    fastlane.route(args, {
      operationId,
      viewerId: null,
      send: (head, body) => frames.push(Buffer.concat([Buffer.from(head), ...body]).toString()),
      formatErrors: () => [],
    });
    const stream = (await fastlane.subscribe(args)) as AsyncIterableIterator<ExecutionResult>;
    return { frames, next: stream.next(), stream };
  }

  const frame = (id: string, seq: number, content: string) =>
    JSON.stringify({ id, type: 'next', payload: { data: { messageAdded: { seq, content } } } });

  it('writes each event from inside the push, encoded once for every subscriber with the selection', async () => {
    const encodings = jest.fn();
    const fastlane = new Fastlane(encodings);
    const [queueA, queueB] = [new AsyncQueue<Event>(10), new AsyncQueue<Event>(10)];
    const [a, b] = [await subscriber(fastlane, queueA, 'a'), await subscriber(fastlane, queueB, 'b')];
    for (const seq of [1, 2]) {
      // One event object handed to every local subscriber, as a chat feed does.
      const event: Event = { messageAdded: { seq, content: `m${seq}` } };
      queueA.push(event);
      queueB.push(event);
    }
    expect(a.frames).toEqual([frame('a', 1, 'm1'), frame('a', 2, 'm2')]);
    expect(b.frames).toEqual([frame('b', 1, 'm1'), frame('b', 2, 'm2')]);
    expect(encodings).toHaveBeenCalledTimes(2);
    queueA.end();
    await expect(a.next).resolves.toEqual({ value: undefined, done: true });
    await b.stream.return!();
    await expect(b.next).resolves.toEqual({ value: undefined, done: true });
    expect(queueB.closed).toBe(true);
  });

  it('keeps the order when an event executes asynchronously, and completes after its frame', async () => {
    const fastlane = new Fastlane();
    const queue = new AsyncQueue<Event>(10);
    const sub = await subscriber(fastlane, queue, 'a');
    let release!: (content: string) => void;
    const slow = new Promise<string>((resolve) => (release = resolve));
    queue.push({ messageAdded: { seq: 1, content: () => slow } });
    queue.push({ messageAdded: { seq: 2, content: 'fast' } });
    queue.end();
    let completed = false;
    void sub.next.then(() => (completed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sub.frames).toEqual([]);
    expect(completed).toBe(false);
    release('slow');
    await sub.next;
    expect(sub.frames).toEqual([frame('a', 1, 'slow'), frame('a', 2, 'fast')]);
    queue.push({ messageAdded: { seq: 3, content: 'late' } });
    expect(sub.frames).toHaveLength(2);
  });

  it('an event that fails to execute goes to each subscriber with the errors graphql-js gives', async () => {
    const fastlane = new Fastlane();
    const queue = new AsyncQueue<Event>(10);
    const args: ExecutionArgs = { schema, document, rootValue: { messageAdded: () => queue } };
    const frames: unknown[] = [];
    fastlane.route(args, {
      operationId: 'a',
      viewerId: null,
      send: (head, body) => frames.push(JSON.parse(Buffer.concat([Buffer.from(head), ...body]).toString())),
      formatErrors: (result) => result.errors!.map((error) => ({ message: error.message, path: error.path })),
    });
    const stream = (await fastlane.subscribe(args)) as AsyncIterableIterator<ExecutionResult>;
    void stream.next();
    const failing = () => Promise.reject(new Error('no content'));
    queue.push({ messageAdded: { seq: 1, content: failing } });
    queue.push({ messageAdded: { seq: 2, content: 'fine' } });
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames).toEqual([
      {
        id: 'a',
        type: 'next',
        payload: { data: null, errors: [{ message: 'no content', path: ['messageAdded', 'content'] }] },
      },
      JSON.parse(frame('a', 2, 'fine')),
    ]);
    await stream.return!();
  });

  it('a failing send ends the subscription without throwing into the producer', async () => {
    const fastlane = new Fastlane();
    const queue = new AsyncQueue<Event>(10);
    const args: ExecutionArgs = {
      schema,
      document,
      rootValue: { messageAdded: () => queue },
    };
    const send = jest.fn(() => {
      throw new Error('socket gone');
    });
    fastlane.route(args, { operationId: 'a', viewerId: null, send, formatErrors: () => [] });
    const stream = (await fastlane.subscribe(args)) as AsyncIterableIterator<ExecutionResult>;
    const next = stream.next();
    expect(queue.push({ messageAdded: { seq: 1, content: 'x' } })).toBe(true);
    await expect(next).rejects.toThrow('socket gone');
    expect(queue.closed).toBe(true);
    expect(queue.push({ messageAdded: { seq: 2, content: 'y' } })).toBe(false);
    expect(send).toHaveBeenCalledTimes(1);
  });
});

describe('Fastlane.subscribe with SharedEvents', () => {
  interface Diff {
    kind: string;
    selfRef: string | null;
    note: string;
  }
  const diffSchema = sharing(
    buildSchema(`
      type Diff { kind: String! selfRef: ID note: String! }
      type Query { ping: Int }
      type Subscription { diff: Diff }
    `),
    'diff',
  );
  // As the presence resolver does: each subscriber's own view of the event.
  diffSchema.getSubscriptionType()!.getFields().diff.resolve = (event: Diff | SharedEvent<Diff>) => ownView(event);
  Object.assign((diffSchema.getType('Diff') as GraphQLObjectType).getFields().selfRef, {
    extensions: { personal: true },
  });

  // One parsed document per query text, as the document cache gives them.
  const documents = new Map<string, DocumentNode>();
  async function subscriber(fastlane: Fastlane, query: string, operationId: string) {
    const source = new AsyncQueue<SharedEvent<Diff>>(10);
    const frames: unknown[] = [];
    if (!documents.has(query)) documents.set(query, parse(query));
    const args: ExecutionArgs = {
      schema: diffSchema,
      document: documents.get(query)!,
      rootValue: { diff: () => source },
    };
    expect(
      fastlane.route(args, {
        operationId,
        viewerId: null,
        send: (head, body) => frames.push(JSON.parse(Buffer.concat([Buffer.from(head), ...body]).toString())),
        formatErrors: () => [],
      }),
    ).toBe(true);
    const stream = (await fastlane.subscribe(args)) as AsyncIterableIterator<ExecutionResult>;
    void stream.next();
    return { source, frames };
  }

  it('encodes each event once per selection and splices in every subscriber its own values', async () => {
    const encodings = jest.fn();
    const fastlane = new Fastlane(encodings);
    const plain = 'subscription { diff { kind selfRef note } }';
    const a = await subscriber(fastlane, plain, 'a');
    const b = await subscriber(fastlane, plain, 'b');
    const twice = await subscriber(fastlane, 'subscription { d: diff { me: selfRef kind again: selfRef } }', 'c');
    const without = await subscriber(fastlane, 'subscription { diff { note } }', 'd');
    // Text that looks like the JSON around a personal value changes nothing.
    const shared: Diff = { kind: 'DIFF', selfRef: null, note: 'a "selfRef":"x" \\ é' };
    const personal = { a: 'ref-a', b: null, c: 'ref "c"', d: 'ref-d' };
    for (const [id, sub] of Object.entries({ a, b, c: twice, d: without })) {
      const selfRef = personal[id as keyof typeof personal];
      sub.source.push(new SharedEvent(shared, { 'Diff.selfRef': selfRef }, () => ({ ...shared, selfRef })));
    }
    const next = (id: string, data: unknown) => ({ id, type: 'next', payload: { data } });
    expect(a.frames).toEqual([next('a', { diff: { kind: 'DIFF', selfRef: 'ref-a', note: shared.note } })]);
    expect(b.frames).toEqual([next('b', { diff: { kind: 'DIFF', selfRef: null, note: shared.note } })]);
    expect(twice.frames).toEqual([next('c', { d: { me: 'ref "c"', kind: 'DIFF', again: 'ref "c"' } })]);
    expect(without.frames).toEqual([next('d', { diff: { note: shared.note } })]);
    expect(encodings).toHaveBeenCalledTimes(3);
  });
});

describe('Fastlane.subscribe with Personal fields below the root', () => {
  interface Summary {
    chat: { id: string; unread: number; tags: { unread: number }[] };
  }
  const summarySchema = sharing(
    buildSchema(`
      type Tag { unread: Int! }
      type Chat { id: ID! unread: Int! tags: [Tag!]! }
      type Summary { chat: Chat! }
      type Query { ping: Int }
      type Subscription { summary: Summary }
    `),
    'summary',
  );
  summarySchema.getSubscriptionType()!.getFields().summary.resolve = (event: Summary | SharedEvent<Summary>) =>
    ownView(event);
  Object.assign((summarySchema.getType('Chat') as GraphQLObjectType).getFields().unread, {
    extensions: { personal: true },
  });

  it('fills an Int field of a nested object per subscriber, through aliases and fragments, and nowhere else', async () => {
    const encodings = jest.fn();
    const fastlane = new Fastlane(encodings);
    const query =
      'subscription { summary { chat { ...C n: unread tags { unread } } } } fragment C on Chat { id unread }';
    const document = parse(query);
    const subscribers = ['a', 'b'].map((id) => {
      const source = new AsyncQueue<SharedEvent<Summary>>(10);
      const frames: unknown[] = [];
      const args: ExecutionArgs = { schema: summarySchema, document, rootValue: { summary: () => source } };
      fastlane.route(args, {
        operationId: id,
        viewerId: id,
        send: (head, body) => frames.push(JSON.parse(Buffer.concat([Buffer.from(head), ...body]).toString())),
        formatErrors: () => [],
      });
      return { id, source, frames, args };
    });
    for (const sub of subscribers) void ((await fastlane.subscribe(sub.args)) as AsyncIterableIterator<unknown>).next();
    // In the shared execution the field holds a placeholder; the tag's own `unread` is not the Chat's.
    const shared: Summary = { chat: { id: 'c1', unread: 0, tags: [{ unread: 7 }] } };
    const own = { a: 3, b: 0 };
    for (const sub of subscribers) {
      const unread = own[sub.id as 'a' | 'b'];
      sub.source.push(new SharedEvent(shared, { 'Chat.unread': unread }, () => ({ chat: { ...shared.chat, unread } })));
    }
    const data = (unread: number) => ({ summary: { chat: { id: 'c1', unread, n: unread, tags: [{ unread: 7 }] } } });
    expect(subscribers[0].frames).toEqual([{ id: 'a', type: 'next', payload: { data: data(3) } }]);
    expect(subscribers[1].frames).toEqual([{ id: 'b', type: 'next', payload: { data: data(0) } }]);
    expect(encodings).toHaveBeenCalledTimes(1);
  });
});

describe('Fastlane with values only their owner may see', () => {
  interface Note {
    author: string;
    email: string;
  }
  const noteSchema = sharing(
    buildSchema(`
      type Note { author: ID! email: String }
      type Query { ping: Int }
      type Subscription { note: Note }
    `),
    'note',
  );
  // As User.email resolves: the viewer's own, null for others, a marker in a shared execution.
  (noteSchema.getType('Note') as GraphQLObjectType).getFields().email.resolve = (
    note: Note,
    _args,
    ctx: RequestContext,
  ) => ownValue(ctx, note, note.author, note.email);
  const document = parse('subscription { note { author email } }');

  async function subscriber(fastlane: Fastlane, viewerId: string) {
    const source = new AsyncQueue<{ note: Note }>(10);
    const frames: unknown[] = [];
    const args: ExecutionArgs = {
      schema: noteSchema,
      document,
      rootValue: { note: () => source },
      contextValue: { viewer: { id: viewerId }, clientKey: 'x' },
    };
    fastlane.route(args, {
      operationId: viewerId,
      viewerId,
      send: (head, body) => frames.push(JSON.parse(Buffer.concat([Buffer.from(head), ...body]).toString())),
      formatErrors: () => [],
    });
    const stream = (await fastlane.subscribe(args)) as AsyncIterableIterator<ExecutionResult>;
    void stream.next();
    return { source, frames };
  }

  it('encodes each event once and shows an owned value to its owner only', async () => {
    const encodings = jest.fn();
    const fastlane = new Fastlane(encodings);
    // The first subscriber is not the owner: its view must not decide what the others get.
    const [bob, ann, annTab] = [
      await subscriber(fastlane, 'bob'),
      await subscriber(fastlane, 'ann'),
      await subscriber(fastlane, 'ann'),
    ];
    const event = { note: { author: 'ann', email: 'ann@example.com "quoted" ~' } };
    for (const s of [bob, ann, annTab]) s.source.push(event);
    const payload = (email: string | null) => ({ data: { note: { author: 'ann', email } } });
    expect(bob.frames).toEqual([{ id: 'bob', type: 'next', payload: payload(null) }]);
    expect(ann.frames).toEqual([{ id: 'ann', type: 'next', payload: payload('ann@example.com "quoted" ~') }]);
    expect(annTab.frames).toEqual(ann.frames);
    expect(encodings).toHaveBeenCalledTimes(1);
  });
});
