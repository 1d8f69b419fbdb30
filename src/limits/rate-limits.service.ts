import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import {
  BurstyRateLimiter,
  IRateLimiterOptions,
  RateLimiterLike,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
} from 'rate-limiter-flexible';
import { RateLimitedError } from '../common/errors';
import { AppConfig, RateLimit } from '../config/app-config';
import { closeRedis, openRedis, RedisClient } from '../redis/redis-connection';
import { LeasedCounter } from './leased-counter';

const COUNT_TIMEOUT_MS = 250;
/** An instance leases at most this share of a key's limit at a time (1/LEASE_SHARE)... */
const LEASE_SHARE = 10;
/** ...and at most this many points, so that a generous limit still reaches Redis now and then. */
const LEASE_MAX = 50;

/** The limits the API names; each counts per key (a user, an address, an account). */
export type LimitName = 'messages' | 'typing' | 'reads' | 'auth' | 'authAccount';

interface Limiter {
  consume(key: string): Promise<unknown>;
  reward?(key: string, points: number): Promise<unknown>;
}

/**
 * Every rate limit, counted in one place for the whole deployment: on the app's Redis when REDIS_URL is set
 * (each count is one atomic script on one key, so N instances allow what one does), in process otherwise.
 * While Redis is unreachable each instance counts on its own rather than refusing everyone or letting
 * everything through.
 */
@Injectable()
export class RateLimits implements OnApplicationShutdown {
  private readonly redis?: RedisClient;
  private readonly limiters: Record<LimitName, Limiter>;

  constructor(config: AppConfig) {
    const settings = config.redis;
    if (settings) {
      this.redis = openRedis(settings, config.instanceId, 'limits', {
        maxRetriesPerRequest: 1,
        offlineQueue: false,
        autoPipelining: true,
      });
    }
    const prefix = `${settings?.keyPrefix ?? ''}limit:`;
    // `leased`: a throughput limit, where one lease's slack between instances does not matter; a limit against
    // guessing passwords or mass sign-ups is counted exactly, call by call.
    const counter = (name: string, points: number, duration: number, leased = true): RateLimiterLike => {
      const options: IRateLimiterOptions = { keyPrefix: prefix + name, points, duration };
      if (!this.redis) return new RateLimiterMemory(options);
      // A count that Redis cannot answer soon (a cluster shard failing over holds its commands for seconds) is
      // made in memory instead, so no request waits on the limiter.
      const shared = new RLWrapperTimeouts({
        limiter: new RateLimiterRedis({ ...options, storeClient: this.redis, rejectIfRedisNotReady: true }),
        timeoutMs: COUNT_TIMEOUT_MS,
        insuranceLimiter: new RateLimiterMemory(options),
      });
      // A limit of a few points a window is counted call by call; a larger one in leases (see LeasedCounter).
      const leaseSize = Math.min(LEASE_MAX, Math.floor(points / LEASE_SHARE));
      if (!leased || leaseSize < 2) return shared;
      return new LeasedCounter(shared, points, leaseSize);
    };
    // A steady rate per second, and a reserve of `burst - perSecond` that refills over burst/perSecond seconds.
    const bursty = (name: string, { perSecond, burst }: RateLimit): Limiter => {
      const steady = counter(name, perSecond, 1);
      if (burst <= perSecond) return steady;
      return new BurstyRateLimiter(steady, counter(`${name}-burst`, burst - perSecond, Math.ceil(burst / perSecond)));
    };
    const { rateLimits } = config;
    this.limiters = {
      messages: bursty('messages', rateLimits.messages),
      typing: bursty('typing', rateLimits.typing),
      // markRead: as often as setTyping, counted on its own.
      reads: bursty('reads', rateLimits.typing),
      auth: counter('auth', rateLimits.authPerMinute, 60, false),
      authAccount: counter('auth-account', rateLimits.authPerAccountPerMinute, 60, false),
    };
  }

  /** Counts one call for `key`; RATE_LIMITED, with the wait, when that is over the limit. */
  async take(limit: LimitName, key: string): Promise<void> {
    try {
      await this.limiters[limit].consume(key);
    } catch (error) {
      if (error instanceof RateLimiterRes) throw new RateLimitedError(error.msBeforeNext);
      throw error;
    }
  }

  /** Gives back a call that turned out not to count (a sign-in that succeeded). */
  async giveBack(limit: LimitName, key: string): Promise<void> {
    await this.limiters[limit].reward?.(key, 1).catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.redis) await closeRedis(this.redis);
  }
}
