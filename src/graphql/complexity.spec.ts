import { buildSchema, parse } from 'graphql';
import { checkComplexity } from './complexity';

const schema = buildSchema(`
  type Item { id: ID! tags(first: Int): [String!]! }
  type Query { items(first: Int, last: Int, name: String): [Item!]! }
`);

describe('checkComplexity', () => {
  it('prices a page by its size, whether written in the query or passed as a variable', () => {
    const literal = parse('{ items(first: 100) { id tags(first: 10) } }');
    expect(checkComplexity(schema, literal, undefined, undefined, 201)).toBeNull();
    expect(checkComplexity(schema, literal, undefined, undefined, 200)?.message).toBe(
      'Operation complexity 201 is over the limit of 200',
    );
    const variable = parse('query($n: Int) { items(first: $n) { id } }');
    // The same document object each time, as the parse caches hand it out: the cost must follow the variables.
    expect(checkComplexity(schema, variable, undefined, { n: 10 }, 50)).toBeNull();
    expect(checkComplexity(schema, variable, undefined, { n: 100 }, 50)?.extensions.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    expect(checkComplexity(schema, variable, undefined, { n: 10 }, 50)).toBeNull();
  });

  it('follows variables in directives, and ignores variables that cannot change the cost', () => {
    const skipped = parse('query($big: Boolean!) { items(first: 100) @include(if: $big) { id } }');
    expect(checkComplexity(schema, skipped, undefined, { big: false }, 50)).toBeNull();
    expect(checkComplexity(schema, skipped, undefined, { big: true }, 50)).not.toBeNull();
    const named = parse('query($name: String) { items(first: 100, name: $name) { id } }');
    expect(checkComplexity(schema, named, undefined, { name: 'a' }, 50)).not.toBeNull();
    expect(checkComplexity(schema, named, undefined, { name: 'b' }, 50)).not.toBeNull();
    expect(checkComplexity(schema, named, undefined, { name: 'b' }, 500)).toBeNull();
  });

  it('leaves bad variables and unknown operations to execution', () => {
    const variable = parse('query($n: Int) { items(first: $n) { id } }');
    expect(checkComplexity(schema, variable, undefined, { n: 'many' }, 50)).toBeNull();
    expect(checkComplexity(schema, variable, 'Missing', { n: 1000 }, 50)).toBeNull();
  });
});
