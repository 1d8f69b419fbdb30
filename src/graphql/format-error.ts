import { Logger } from '@nestjs/common';
import { unwrapResolverError } from '@apollo/server/errors';
import { ExecutionResult, GraphQLFormattedError } from 'graphql';
import { DomainError } from '../common/errors';

/** Codes a client may see as they are: its own mistakes, reported by Apollo or graphql-js. */
const PUBLIC_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

const logger = new Logger('GraphQLErrors');

/**
 * The one place errors become what clients see, over HTTP and WebSocket: domain errors keep their message and
 * code; request errors keep theirs; anything else is logged here and leaves as a bare INTERNAL_SERVER_ERROR,
 * with no stack, SQL, driver text or path.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const where = { locations: formatted.locations, path: formatted.path };
  if (original instanceof DomainError) {
    return { message: original.message, ...where, extensions: original.extensions };
  }
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && PUBLIC_REQUEST_CODES.has(code)) {
    return { message: formatted.message, ...where, extensions: { code } };
  }
  logger.error(
    `unexpected error${formatted.path ? ` at ${formatted.path.join('.')}` : ''}: ${describe(original)}`,
    original instanceof Error ? original.stack : undefined,
  );
  return { message: 'Internal server error', ...where, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

/**
 * A result's errors as clients see them, or undefined when it has none, for the paths that execute without
 * Apollo (graphql-ws, GraphqlHttpHandler).
 */
export function formatResultErrors(result: ExecutionResult): GraphQLFormattedError[] | undefined {
  if (!result.errors?.length) return undefined;
  // No `data` and no underlying exception: graphql-js refused the variables, which Apollo reports over
  // HTTP as BAD_USER_INPUT. Anything with an original error goes through formatError as it is.
  const refused = !('data' in result);
  return result.errors.map((error) =>
    formatError(
      refused && !error.originalError && !error.extensions?.code
        ? { ...error.toJSON(), extensions: { code: 'BAD_USER_INPUT' } }
        : error.toJSON(),
      error,
    ),
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
