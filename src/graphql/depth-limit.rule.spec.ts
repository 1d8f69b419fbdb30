import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { depthLimitRule } from './depth-limit.rule';

const schema = buildSchema(`
  type Node { id: ID! child: Node }
  type Query { node: Node }
`);

function errorsFor(query: string, maxDepth: number): string[] {
  return validate(schema, parse(query), [...specifiedRules, depthLimitRule(maxDepth)]).map((e) => e.message);
}

function chain(depth: number): string {
  return `{ node ${'{ child '.repeat(depth - 2)}{ id }${' }'.repeat(depth - 2)} }`;
}

describe('depthLimitRule', () => {
  it('allows operations up to the limit and rejects deeper ones', () => {
    expect(errorsFor(chain(5), 5)).toEqual([]);
    expect(errorsFor(chain(6), 5)).toEqual(['Operation is nested deeper than the limit of 5 levels']);
  });

  it('counts depth through named and inline fragments', () => {
    const query = `{ node { ...F } } fragment F on Node { child { ... on Node { child { child { id } } } } }`;
    expect(errorsFor(query, 4)).toHaveLength(1);
    expect(errorsFor(query, 5)).toEqual([]);
  });

  it('exempts introspection', () => {
    const query = `{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }`;
    expect(errorsFor(query, 2)).toEqual([]);
  });

  it('survives fragment cycles (reported by graphql itself)', () => {
    const errors = errorsFor('{ node { ...A } } fragment A on Node { child { ...B } } fragment B on Node { ...A }', 10);
    expect(errors.some((m) => /Cannot spread fragment/.test(m))).toBe(true);
  });
});
