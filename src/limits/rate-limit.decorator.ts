import {
  applyDecorators,
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  SetMetadata,
  UseInterceptors,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { Observable, tap } from 'rxjs';
import { RequestContext } from '../common/request-context';
import { LimitName, RateLimits } from './rate-limits.service';

export interface RateLimitRule {
  limit: LimitName;
  /** Whom the call counts against; null: this rule does not apply to the call. */
  by: (context: RequestContext, args: Record<string, unknown>) => string | null;
  /** The call counts only when it fails (sign-in attempts per account). */
  onlyFailures?: boolean;
}

const RATE_LIMITS = 'rateLimits';

export const byViewer = (context: RequestContext): string | null => context.viewer?.id ?? null;
export const byAddress = (context: RequestContext): string => context.clientKey;

/**
 * Declares the limits an operation counts against, where the operation is defined. They are taken in order
 * before the resolver runs, on whichever transport the operation came, and a refusal is RATE_LIMITED.
 */
export const RateLimit = (...rules: RateLimitRule[]) =>
  applyDecorators(SetMetadata(RATE_LIMITS, rules), UseInterceptors(RateLimitInterceptor));

@Injectable()
export class RateLimitInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly limits: RateLimits,
  ) {}

  async intercept(execution: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const rules = this.reflector.get<RateLimitRule[] | undefined>(RATE_LIMITS, execution.getHandler()) ?? [];
    const graphql = GqlExecutionContext.create(execution);
    const context = graphql.getContext<RequestContext>();
    const args = graphql.getArgs<Record<string, unknown>>();
    const refunds: (() => Promise<void>)[] = [];
    for (const rule of rules) {
      const key = rule.by(context, args);
      if (key === null) continue;
      await this.limits.take(rule.limit, key);
      if (rule.onlyFailures) refunds.push(() => this.limits.giveBack(rule.limit, key));
    }
    if (!refunds.length) return next.handle();
    return next.handle().pipe(tap(() => refunds.forEach((refund) => void refund())));
  }
}
