import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ASTNode,
  DocumentNode,
  FragmentDefinitionNode,
  ExecutionArgs,
  GraphQLSchema,
  getOperationAST,
  GraphQLError,
  getVariableValues,
  NoSchemaIntrospectionCustomRule,
  OperationDefinitionNode,
  parse,
  ParseOptions,
  specifiedRules,
  validate,
  ValidationContext,
  ValidationRule,
  visit,
} from 'graphql';
import { AppConfig } from '../config/app-config';
import { RequestContext } from '../common/request-context';
import { errorMessage } from '../logging/log-errors';
import { complexityRule } from './complexity.rule';
import { SubscriptionRootDirectivesRule } from './subscription-root.rule';

/**
 * The validation rules every operation passes, on every transport, beyond graphql-js's own: the one place a rule
 * is added. Each runs in time linear in the document (graphql-armor's rules count each fragment once and reuse
 * the count at every spread; so does the complexity rule).
 */
export const ADMISSION_RULES = Symbol('ADMISSION_RULES');

export function admissionRules(config: AppConfig): ValidationRule[] {
  const { maxDepth, maxAliases, maxDirectives, maxComplexity, introspection } = config.graphql;
  return [
    exemptingTypeLookups(
      maxDepthRule({
        n: maxDepth,
        // Depth counts fields: a fragment is not a level of its own.
        flattenFragments: true,
        ignoreIntrospection: true,
        ...reportAs(`Operation is nested deeper than the limit of ${maxDepth} levels`),
      }),
    ),
    // Every alias counts, `__typename`'s too (graphql-armor lets those through by default, without limit).
    maxAliasesRule({ n: maxAliases, allowList: [], ...reportAs(`Operation has more than ${maxAliases} aliases`) }),
    maxDirectivesRule({ n: maxDirectives, ...reportAs(`Operation has more than ${maxDirectives} directives`) }),
    complexityRule(maxComplexity),
    SubscriptionRootDirectivesRule,
    ...(introspection ? [] : [NoSchemaIntrospectionCustomRule]),
  ];
}

/**
 * graphql-armor's `ignoreIntrospection` exempts `__schema` from the depth limit, but not `__type` (one type looked
 * up by name, as tools do), which is introspection as much. The depth rule sees each operation, and each fragment
 * it spreads, without its `__type` fields: linear in the document, as the rule itself is.
 */
function exemptingTypeLookups(rule: ValidationRule): ValidationRule {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode | undefined>();
    const getFragment = (name: string): FragmentDefinitionNode | undefined => {
      if (!fragments.has(name)) {
        const fragment = context.getFragment(name);
        fragments.set(name, fragment ? withoutTypeLookups(fragment) : undefined);
      }
      return fragments.get(name);
    };
    const visitor = rule(Object.create(context, { getFragment: { value: getFragment } }) as ValidationContext) as {
      OperationDefinition: { enter: (this: unknown, node: OperationDefinitionNode) => void };
    };
    const enter = visitor.OperationDefinition.enter;
    return {
      OperationDefinition: { enter: (node) => enter.call(visitor, withoutTypeLookups(node)) },
    };
  };
}

function withoutTypeLookups<T extends ASTNode>(node: T): T {
  return visit(node, { Field: (field) => (field.name.value === '__type' ? null : undefined) });
}

/** graphql-armor's rules throw by default; reported instead, they read like every other validation error. */
function reportAs(message: string) {
  return {
    propagateOnRejection: false,
    onReject: [(context: ValidationContext | null) => context?.reportError(new GraphQLError(message))],
  };
}

/** An operation as a client sends it; nothing in it is trusted yet. */
export interface OperationRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

export type Admitted =
  { args: ExecutionArgs; operation: OperationDefinitionNode } | { errors: readonly GraphQLError[] };

const MAX_CACHED_DOCUMENTS = 1000;

/**
 * How an operation is admitted, whatever brought it: parsed with a token limit (graphql-js stops counting at the
 * limit, before it recurses further, so neither a huge nor a deeply nested document costs more than the limit),
 * then validated with graphql-js's rules and ADMISSION_RULES. The HTTP transport asks `refusal` before Apollo
 * sees a request (Apollo runs the same `parseOptions` and `validationRules` again, for a persisted query's text
 * too, but a rule of graphql-js's that throws would make its answer a 500); `admit` runs them for graphql-ws,
 * which has no pipeline of its own.
 */
@Injectable()
export class Admission {
  private readonly logger = new Logger(Admission.name);
  readonly parseOptions: ParseOptions;
  private readonly allRules: readonly ValidationRule[];
  /** Valid documents by query text, least recently used first; bounded, so distinct queries cannot grow it. */
  private readonly documents = new Map<string, DocumentNode>();

  constructor(
    @Inject(ADMISSION_RULES) readonly validationRules: ValidationRule[],
    config: AppConfig,
  ) {
    this.parseOptions = { maxTokens: config.graphql.maxTokens };
    this.allRules = [...specifiedRules, ...validationRules];
  }

  /**
   * What is wrong with a query text, by the same parse and rules as `admit`; null when it is valid, or is not a
   * text at all (that, and a persisted query's hash, is the HTTP pipeline's own to answer).
   */
  refusal(schema: GraphQLSchema, query: unknown): readonly GraphQLError[] | null {
    if (typeof query !== 'string' || query.length === 0) return null;
    const checked = this.document(schema, query);
    return 'errors' in checked ? checked.errors : null;
  }

  admit(schema: GraphQLSchema, request: OperationRequest, contextValue: RequestContext): Admitted {
    const checked = this.document(schema, request.query);
    if ('errors' in checked) return checked;
    const { variables, operationName } = request;
    if (variables != null && !isPlainObject(variables)) return refuse('Variables must be an object', 'BAD_REQUEST');
    if (operationName != null && typeof operationName !== 'string') {
      return refuse('Operation name must be a string', 'BAD_REQUEST');
    }
    const operation = getOperationAST(checked.document, operationName);
    if (!operation) return refuse('Unable to identify the operation to run', 'OPERATION_RESOLUTION_FAILURE');
    const refused = this.variableRefusal(schema, operation, variables);
    if (refused) return { errors: [refused] };
    return {
      operation,
      // rootValue is set here, undefined, rather than added by graphql-ws afterwards, which would cost the object
      // a separate property array for the subscription's life.
      args: {
        schema,
        document: checked.document,
        operationName,
        variableValues: variables,
        contextValue,
        rootValue: undefined,
      },
    };
  }

  /**
   * What is wrong with an operation's variables, or null: coerced as execution will coerce them, but stopping at
   * the first error. Left to execution, graphql-js reports up to 50, each quoting the whole value it refused, so an
   * input of a few thousand unknown fields made one request a second of work and megabytes of answer. Asked by
   * both transports, over HTTP after Apollo has resolved the operation (a persisted query's too).
   */
  variableRefusal(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: unknown): GraphQLError | null {
    const definitions = operation.variableDefinitions;
    if (!definitions?.length) return null;
    const inputs = isPlainObject(variables) ? variables : {};
    const coerced = getVariableValues(schema, definitions, inputs, { maxErrors: 1 });
    if (!coerced.errors) return null;
    const [first] = coerced.errors;
    return new GraphQLError(first.message, {
      nodes: first.nodes,
      extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
    });
  }

  private document(
    schema: GraphQLSchema,
    query: unknown,
  ): { document: DocumentNode } | { errors: readonly GraphQLError[] } {
    if (typeof query !== 'string' || query.length === 0)
      return refuse('Query must be a non-empty string', 'BAD_REQUEST');
    const cached = this.documents.get(query);
    if (cached) {
      this.documents.delete(query);
      this.documents.set(query, cached);
      return { document: cached };
    }
    let document: DocumentNode;
    try {
      document = parse(query, this.parseOptions);
    } catch (error) {
      if (!(error instanceof GraphQLError)) return refuse('Syntax Error', 'GRAPHQL_PARSE_FAILED');
      // Where in the document, as Apollo says it.
      const { source, positions } = error;
      return {
        errors: [new GraphQLError(error.message, { source, positions, extensions: { code: 'GRAPHQL_PARSE_FAILED' } })],
      };
    }
    let errors: readonly GraphQLError[];
    try {
      errors = validate(schema, document, this.allRules);
    } catch (error) {
      // A graphql-js rule that throws on a document it does not expect (its own single-root-field rule, given a
      // root field under @include with a variable): SubscriptionRootDirectivesRule reports what is wrong with it.
      errors = validate(schema, document, [SubscriptionRootDirectivesRule]);
      // Anything else that throws is this server's fault, not the client's.
      if (!errors.length) {
        this.logger.error(`validation failed: ${errorMessage(error)}`);
        return refuse('Internal server error', 'INTERNAL_SERVER_ERROR');
      }
    }
    if (errors.length) {
      return {
        errors: errors.map(
          (e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }),
        ),
      };
    }
    if (this.documents.size >= MAX_CACHED_DOCUMENTS) this.documents.delete(this.documents.keys().next().value!);
    this.documents.set(query, document);
    return { document };
  }
}

function refuse(message: string, code: string): { errors: readonly GraphQLError[] } {
  return { errors: [new GraphQLError(message, { extensions: { code } })] };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
