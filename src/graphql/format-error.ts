import { Injectable, Logger } from '@nestjs/common';
import { unwrapResolverError } from '@apollo/server/errors';
import { ExecutionResult, GraphQLError, GraphQLFormattedError } from 'graphql';
import { AppConfig } from '../config/app-config';
import { DomainError } from '../common/errors';
import { errorMessage } from '../logging/log-errors';
import { isMissingUser } from '../database/postgres-errors';

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

/** graphql-js's own ending (` Did you mean "a", "b", or "c"?`), not words a client's quoted value may hold. */
const SUGGESTION = / ?Did you mean (?:"[^"]*"(?:,? or |, )?)+\?$/;
/** The longest message a client's own mistake is answered with. */
const MAX_MESSAGE_LENGTH = 500;

/**
 * The one place errors become what clients see, over HTTP and WebSocket, and the one place an error is logged:
 * domain errors keep their message and code; a client's own mistakes (parse, validation, variables) keep theirs
 * and are not logged, since their text may hold what the client sent, a password included; anything else is
 * logged here, by message and stack only, and leaves as a bare INTERNAL_SERVER_ERROR, with no stack, SQL,
 * driver text or path.
 */
@Injectable()
export class ErrorFormatter {
  private readonly logger = new Logger('GraphQLErrors');
  private readonly suggestions: boolean;

  constructor(config: AppConfig) {
    this.suggestions = config.graphql.suggestions;
  }

  format = (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const where = { locations: formatted.locations, path: formatted.path };
    if (original instanceof DomainError) {
      return { message: original.message, ...where, extensions: original.extensions };
    }
    // The viewer's account was deleted between its token's check and this write.
    if (isMissingUser(original)) {
      return { message: 'Account no longer exists', ...where, extensions: { code: 'UNAUTHENTICATED' } };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && PUBLIC_REQUEST_CODES.has(code)) {
      return { message: this.publicMessage(code, formatted.message), ...where, extensions: { code } };
    }
    if (isUncodedRefusal(original)) {
      return { message: original.message, ...where, extensions: { code: 'BAD_REQUEST' } };
    }
    this.logger.error(
      `unexpected error${formatted.path ? ` at ${formatted.path.join('.')}` : ''}: ${errorMessage(original)}`,
      original instanceof Error ? original.stack : undefined,
    );
    return { message: 'Internal server error', ...where, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };

  /**
   * A result's errors as clients see them, or undefined when it has none, for results executed outside Apollo
   * (graphql-ws, the fastlane).
   */
  formatResult = (result: ExecutionResult): GraphQLFormattedError[] | undefined => {
    if (!result.errors?.length) return undefined;
    // Variables were admitted before execution (Admission.variableRefusal), so these are the resolvers' own.
    return result.errors.map((error) => this.format(error.toJSON(), error));
  };

  private publicMessage(code: string, message: string): string {
    // The parser's own errors are GraphQLErrors; anything else (an engine's stack overflow) says nothing useful.
    if (code === 'GRAPHQL_PARSE_FAILED' && !message.startsWith('Syntax Error')) return 'Syntax Error';
    // Validation and variables errors alike suggest names of the schema ("Did you mean …").
    return shortened(this.suggestions ? message : message.replace(SUGGESTION, ''));
  }
}

/**
 * graphql-js quotes what it refuses (a variable's whole value, say), so a client's mistake would come back as large
 * as the request; the start says what is wrong.
 */
function shortened(message: string): string {
  if (message.length <= MAX_MESSAGE_LENGTH) return message;
  // Not through the middle of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(message[MAX_MESSAGE_LENGTH - 1]) ? MAX_MESSAGE_LENGTH - 1 : MAX_MESSAGE_LENGTH;
  return `${message.slice(0, end)}…`;
}

/**
 * Apollo's refusal of a request that it gives an HTTP status of 4xx but no code: a persisted query whose hash does
 * not match its text, or of a version it does not know. The client's mistake, like BAD_REQUEST.
 */
function isUncodedRefusal(error: unknown): error is GraphQLError {
  if (!(error instanceof GraphQLError) || error.extensions.code !== undefined) return false;
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
