/**
 * The errors a client can cause. Services throw these; src/graphql/format-error.ts maps them, in one place,
 * to `extensions.code`. They carry no GraphQL or HTTP knowledge.
 */
import { IntrinsicException } from '@nestjs/common';

export type DomainErrorCode =
  'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'BAD_USER_INPUT' | 'CONFLICT' | 'RATE_LIMITED';

/**
 * IntrinsicException: Nest's exception handler does not log it. A client's mistake is answered, not an incident;
 * logging each at error level with its stack would bury real failures and let any client flood the logs.
 */
export abstract class DomainError extends IntrinsicException {
  abstract readonly code: DomainErrorCode;
  protected readonly details: Record<string, unknown> = {};

  /** graphql-js copies an original error's `extensions` onto the GraphQLError it wraps it in. */
  get extensions(): Record<string, unknown> {
    return { code: this.code, ...this.details };
  }
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'Authentication required') {
    super(message);
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
}

export class BadInputError extends DomainError {
  readonly code = 'BAD_USER_INPUT';
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
}

export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  constructor(retryAfterMs: number) {
    super('Too many requests, slow down');
    this.details.retryAfterMs = Math.max(1, Math.ceil(retryAfterMs));
  }
}

/**
 * An error for a log line: its message, never its string form, which for a GraphQL error goes on to quote the
 * lines of the document it points at, and a document may hold what a client sent (a password).
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  // Only the first line: Apollo logs errors already turned into text, source lines and all.
  return String(error).split('\n', 1)[0];
}
