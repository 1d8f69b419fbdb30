import { ASTNode, BREAK, DocumentNode, GraphQLError, GraphQLSchema, visit } from 'graphql';
import { ComplexityEstimatorArgs, getComplexity } from 'graphql-query-complexity';

/**
 * Each field costs 1 plus its children; a paginated field multiplies its children by the page it asks for.
 * Aliases count every time, which is what stops a query that repeats one expensive field a thousand times.
 */
function estimate({ args, childComplexity }: ComplexityEstimatorArgs): number {
  const size = (args as { first?: unknown; last?: unknown }).first ?? (args as { last?: unknown }).last;
  const multiplier = typeof size === 'number' && size > 0 ? size : 1;
  return 1 + childComplexity * multiplier;
}

/**
 * Costs of operations whose cost cannot depend on their variables (no variable in a page size or a directive),
 * per parsed document and operation name. Documents come from Apollo's and our own parse caches, so the same
 * query text is the same object and its cost is worked out once; a document that leaves those caches is freed.
 */
const fixedCosts = new WeakMap<DocumentNode, Map<string, number>>();
const variableSensitive = new WeakMap<DocumentNode, boolean>();

const PAGE_SIZE_ARGUMENTS = new Set(['first', 'last']);

function dependsOnVariables(document: DocumentNode): boolean {
  let cached = variableSensitive.get(document);
  if (cached !== undefined) return cached;
  const hasVariable = (node: ASTNode) => {
    let found = false;
    visit(node, {
      Variable: () => {
        found = true;
        return BREAK;
      },
    });
    return found;
  };
  cached = false;
  visit(document, {
    Argument: (node) => {
      if (PAGE_SIZE_ARGUMENTS.has(node.name.value) && hasVariable(node.value)) cached = true;
    },
    Directive: (node) => {
      if (node.arguments?.some((argument) => hasVariable(argument.value))) cached = true;
    },
  });
  variableSensitive.set(document, cached);
  return cached;
}

/** The operation's cost, or a GRAPHQL_VALIDATION_FAILED error when it is over budget. */
export function checkComplexity(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  budget: number,
): GraphQLError | null {
  const complexity = costOf(schema, document, operationName ?? undefined, variables);
  if (complexity === null || complexity <= budget) return null;
  return new GraphQLError(`Operation complexity ${complexity} is over the limit of ${budget}`, {
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
  });
}

function costOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
  variables: Record<string, unknown> | null | undefined,
): number | null {
  const fixed = !dependsOnVariables(document);
  const key = operationName ?? '';
  const known = fixed ? fixedCosts.get(document)?.get(key) : undefined;
  if (known !== undefined) return known;
  let complexity: number;
  try {
    complexity = getComplexity({
      schema,
      query: document,
      operationName,
      variables: variables ?? {},
      estimators: [estimate],
    });
  } catch {
    // Bad variables or an unknown operation name: execution reports those with their proper codes.
    return null;
  }
  if (fixed) {
    let byName = fixedCosts.get(document);
    if (!byName) fixedCosts.set(document, (byName = new Map<string, number>()));
    byName.set(key, complexity);
  }
  return complexity;
}
