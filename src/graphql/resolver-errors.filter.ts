import { ArgumentsHost, Catch } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { GqlContextType } from '@nestjs/graphql';

/**
 * A resolver's error goes on to Apollo or graphql-ws as it is, where ErrorFormatter answers it and logs it when it
 * is unexpected: once, by message and stack. Nest's default filter would log it first, whole. Errors elsewhere (the
 * Express routes) keep Nest's default handling.
 */
@Catch()
export class ResolverErrorsFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): unknown {
    // Returned, an Error is the field's error; anything else thrown would be taken for its value.
    if (host.getType<GqlContextType>() === 'graphql') {
      return exception instanceof Error ? exception : new Error(`thrown: ${String(exception)}`);
    }
    return super.catch(exception, host);
  }
}
