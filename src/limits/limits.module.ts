import { Module } from '@nestjs/common';
import { RateLimitGuard, RateLimitRefunds } from './rate-limit.decorator';
import { RateLimits } from './rate-limits.service';

/** Owns the rate limits every operation declares with @RateLimit. */
@Module({
  providers: [RateLimits, RateLimitGuard, RateLimitRefunds],
  exports: [RateLimits, RateLimitGuard, RateLimitRefunds],
})
export class LimitsModule {}
