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
