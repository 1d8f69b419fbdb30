import { DocumentNode, GraphQLError, GraphQLSchema, parse, specifiedRules, validate, ValidationRule } from 'graphql';

const MAX_ENTRIES = 1000;
const MAX_QUERY_LENGTH = 100_000;

export type Checked = { document: DocumentNode } | { errors: readonly GraphQLError[] };

/**
 * Parse and validate results per query text, for operations that do not go through Apollo's pipeline (see
 * OperationPreparer; Apollo has its own cache). Only valid documents are cached, and the map is bounded: a
 * client sending endless distinct queries evicts its own entries, it does not grow memory.
 */
export class DocumentCache {
  private readonly valid = new Map<string, DocumentNode>();
  private readonly rules: ValidationRule[];

  constructor(
    private readonly schema: GraphQLSchema,
    extraRules: ValidationRule[],
  ) {
    this.rules = [...specifiedRules, ...extraRules];
  }

  check(query: unknown): Checked {
    if (typeof query !== 'string' || query.length === 0) {
      return { errors: [codeError('Query must be a non-empty string', 'BAD_REQUEST')] };
    }
    const cached = this.valid.get(query);
    if (cached) {
      // Refresh its place: the map's insertion order doubles as least-recently-used order.
      this.valid.delete(query);
      this.valid.set(query, cached);
      return { document: cached };
    }
    if (query.length > MAX_QUERY_LENGTH) {
      return { errors: [codeError(`Query is longer than ${MAX_QUERY_LENGTH} characters`, 'BAD_REQUEST')] };
    }
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: 10_000 });
    } catch (error) {
      const message = error instanceof GraphQLError ? error.message : 'Syntax error';
      return { errors: [codeError(message, 'GRAPHQL_PARSE_FAILED')] };
    }
    const errors = validate(this.schema, document, this.rules);
    if (errors.length) {
      return {
        errors: errors.map(
          (e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }),
        ),
      };
    }
    if (this.valid.size >= MAX_ENTRIES) this.valid.delete(this.valid.keys().next().value as string);
    this.valid.set(query, document);
    return { document };
  }
}

function codeError(message: string, code: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code } });
}
