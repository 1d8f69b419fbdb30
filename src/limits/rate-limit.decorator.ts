import {
  applyDecorators,
  CallHandler,
  CanActivate,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  SetMetadata,
  UseGuards,
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
 * Counting is a guard: a Nest interceptor costs every call an rxjs pipeline and two async-resource bindings,
 * which showed as a tenth of the CPU of sendMessage over HTTP (bench S5). Only an operation with a rule that
 * counts failures alone also gets the interceptor that sees how the call ended.
 */
export const RateLimit = (...rules: RateLimitRule[]) =>
  applyDecorators(
    SetMetadata(RATE_LIMITS, rules),
    UseGuards(RateLimitGuard),
    ...(rules.some((rule) => rule.onlyFailures) ? [UseInterceptors(RateLimitRefunds)] : []),
  );

/** The rules of the operation being called, each with whom it counts against (rules that do not apply left out). */
function countsOf(reflector: Reflector, execution: ExecutionContext): { rule: RateLimitRule; key: string }[] {
  const rules = reflector.get<RateLimitRule[] | undefined>(RATE_LIMITS, execution.getHandler()) ?? [];
  const graphql = GqlExecutionContext.create(execution);
  const context = graphql.getContext<RequestContext>();
  const args = graphql.getArgs<Record<string, unknown>>();
  return rules.flatMap((rule) => {
    const key = rule.by(context, args);
    return key === null ? [] : [{ rule, key }];
  });
}

@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limits: RateLimits,
  ) {}

  async canActivate(execution: ExecutionContext): Promise<boolean> {
    for (const { rule, key } of countsOf(this.reflector, execution)) await this.limits.take(rule.limit, key);
    return true;
  }
}

/** Gives back the counts of failures-only rules when the call succeeded. */
@Injectable()
export class RateLimitRefunds implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly limits: RateLimits,
  ) {}

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const refunds = countsOf(this.reflector, execution).filter(({ rule }) => rule.onlyFailures);
    return next
      .handle()
      .pipe(tap(() => refunds.forEach(({ rule, key }) => void this.limits.giveBack(rule.limit, key))));
  }
}
