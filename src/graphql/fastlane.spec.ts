import { buildSchema, ExecutionArgs, parse } from 'graphql';
import { Fastlane, FastlaneTarget } from './fastlane';

const schema = buildSchema(`
  type Message { seq: Int! content: String! }
  type Query { ping: Int }
  type Subscription { messageAdded(chatId: ID!, afterSeq: Int): Message!  presence(chatId: ID!): Int }
`);

const target: FastlaneTarget = { operationId: '1', send: () => undefined, formatErrors: () => [] };

function routes(query: string, operationName?: string): boolean {
  const args: ExecutionArgs = { schema, document: parse(query), operationName };
  return new Fastlane(new Set(['messageAdded'])).route(args, target);
}

describe('Fastlane.route', () => {
  it('takes a listed subscription field whose selection reads no variable', () => {
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
