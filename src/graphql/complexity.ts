import { DocumentNode, GraphQLError, GraphQLSchema } from 'graphql';
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

/** The operation's cost, or a GRAPHQL_VALIDATION_FAILED error when it is over budget. */
export function checkComplexity(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  budget: number,
): GraphQLError | null {
  let complexity: number;
  try {
    complexity = getComplexity({
      schema,
      query: document,
      operationName: operationName ?? undefined,
      variables: variables ?? {},
      estimators: [estimate],
    });
  } catch {
    // Bad variables or an unknown operation name: execution reports those with their proper codes.
    return null;
  }
  if (complexity <= budget) return null;
  return new GraphQLError(`Operation complexity ${complexity} is over the limit of ${budget}`, {
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
  });
}
