import { buildSchema, GraphQLSchema, parse, validate } from 'graphql';
import { complexityRule, uncountedLists } from './complexity.rule';

function withHints(schema: GraphQLSchema, hints: Record<string, Record<string, unknown>>): GraphQLSchema {
  for (const [path, extensions] of Object.entries(hints)) {
    const [type, field] = path.split('.');
    const object = schema.getType(type) as { getFields(): Record<string, object> };
    Object.assign(object.getFields()[field], { extensions });
  }
  return schema;
}

const schema = withHints(
  buildSchema(`
    type Message { id: ID! tags: [String!]! }
    type Edge { node: Message! }
    type Page { edges: [Edge!]! }
    type Chat { id: ID! members: [String!]! messages(first: Int, last: Int): Page! }
    type Query { chats: [Chat!]! chat: Chat loose: [Chat!]! }
  `),
  {
    'Query.chats': { maxItems: 10 },
    'Chat.members': { maxItems: 50 },
    'Chat.messages': { page: { defaultItems: 20, maxItems: 100 } },
    'Page.edges': { maxItems: 'page' },
    'Message.tags': { maxItems: 5 },
  },
);

function errorsOf(query: string, budget = 1_000_000): string[] {
  return validate(schema, parse(query), [complexityRule(budget)]).map((error) => error.message);
}

function costOf(query: string): number {
  const [message] = errorsOf(query, 0);
  return Number(/complexity (\d+)/.exec(message ?? '')?.[1] ?? 0);
}

describe('complexityRule', () => {
  it('counts each list at the most items it may return', () => {
    expect(costOf('{ chat { id } }')).toBe(2);
    expect(costOf('{ chats { id } }')).toBe(1 + 10 * 1);
    expect(costOf('{ chats { members } }')).toBe(1 + 10 * 50);
    expect(costOf('{ chat { messages(last: 7) { edges { node { id } } } } }')).toBe(1 + (1 + 7 * (1 + 1 * (1 + 1))));
  });

  it('counts a page size given by a variable or out of range as the largest page, and an absent one as the default', () => {
    const page = (args: string) => costOf(`query($n: Int) { chat { messages${args} { edges { node { id } } } } }`);
    expect(page('(first: $n)')).toBe(1 + (1 + 100 * 3));
    expect(page('(first: 100000)')).toBe(1 + (1 + 100 * 3));
    expect(page('')).toBe(1 + (1 + 20 * 3));
  });

  it('counts a fragment at every spread, working it out once', () => {
    expect(costOf('{ ...Q ...Q } fragment Q on Query { chats { id } }')).toBe(2 * 11);
    const levels = 60;
    const chain = Array.from({ length: levels }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`);
    const query = `{ ...F0 } ${chain.join(' ')} fragment F${levels} on Query { __typename }`;
    expect(costOf(query)).toBe(2 ** levels);
    expect(errorsOf(query, 50_000)).toEqual([`Operation complexity ${2 ** levels} is over the limit of 50000`]);
  });

  it('refuses a list that declares no size rather than pass it', () => {
    expect(errorsOf('{ loose { id } }')).toEqual(['The cost of Query.loose cannot be computed']);
  });

  it('finds the list fields that declare no size', () => {
    expect(uncountedLists(schema)).toEqual(['Query.loose']);
  });

  it('ends at a fragment cycle, which graphql-js refuses', () => {
    expect(errorsOf('{ ...A } fragment A on Query { ...B } fragment B on Query { ...A chat { id } }')).toEqual([]);
  });
});
