import { Module } from '@nestjs/common';
import { RateLimitInterceptor } from './rate-limit.decorator';
import { RateLimits } from './rate-limits.service';

/** Owns the rate limits every operation declares with @RateLimit. */
@Module({
  providers: [RateLimits, RateLimitInterceptor],
  exports: [RateLimits, RateLimitInterceptor],
})
export class LimitsModule {}
