import { RateLimiterCompatibleAbstract, RateLimiterLike, RateLimiterRes } from 'rate-limiter-flexible';

interface Lease {
  /** Points taken from the shared count and not yet spent here. */
  tokens: number;
  /** When the shared window these points belong to ends; the lease ends with it. */
  until: number;
  /** Set when the shared count had nothing left: refusals are answered here until the window ends. */
  refused?: RateLimiterRes;
  /** A lease being taken; calls that find no token wait for it instead of asking again. */
  taking?: Promise<void>;
}

/** How often, at most, expired leases are swept. */
const SWEEP_EVERY_MS = 5_000;

/**
 * Takes a key's points from the shared count several at a time and spends them here, so most calls of a busy
 * key make no round trip to Redis. A lease never takes more than the window has left (what it takes past the
 * limit it gives straight back), and it ends with the window, so all instances together still allow no more
 * than the limit. The price is that points leased here and unspent are not available to other instances until
 * the window ends; a lease is at most a small share of the limit, so that stays a small part of it.
 * It has the shape of rate-limiter-flexible's limiters, so BurstyRateLimiter composes it like any other.
 */
export class LeasedCounter implements RateLimiterCompatibleAbstract {
  private readonly leases = new Map<string, Lease>();
  private sweptAt = 0;

  constructor(
    /** The count every instance shares, with the limit per window. */
    private readonly shared: RateLimiterLike,
    private readonly points: number,
    /** Points taken per round trip. */
    private readonly leaseSize: number,
  ) {}

  get keyPrefix(): string {
    return this.shared.keyPrefix;
  }
  get blockDuration(): number {
    return this.shared.blockDuration;
  }
  set blockDuration(value: number) {
    this.shared.blockDuration = value;
  }
  get execEvenly(): boolean {
    return this.shared.execEvenly;
  }
  set execEvenly(value: boolean) {
    this.shared.execEvenly = value;
  }

  /**
   * Spends a point of `key` from this instance's lease; rejects with a RateLimiterRes when the window has none
   * left. Several points at once go to the shared count directly.
   */
  async consume(key: string | number, pointsToConsume = 1): Promise<RateLimiterRes> {
    if (pointsToConsume !== 1) return this.shared.consume(key, pointsToConsume);
    key = String(key);
    for (;;) {
      const now = Date.now();
      let lease = this.leases.get(key);
      if (lease && lease.until <= now && !lease.taking) {
        this.leases.delete(key);
        lease = undefined;
      }
      if (lease && lease.tokens > 0) {
        lease.tokens--;
        return new RateLimiterRes(lease.tokens, lease.until - now, this.points - lease.tokens, false);
      }
      if (lease?.refused) {
        // rate-limiter-flexible's contract: a refusal rejects with a RateLimiterRes (BurstyRateLimiter checks).
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw new RateLimiterRes(0, lease.until - now, lease.refused.consumedPoints, false);
      }
      await (lease?.taking ?? this.take(key));
    }
  }

  /**
   * Gives back a point of `key` to the shared count, as an unleased limiter would: every instance's next lease
   * sees it.
   */
  reward(key: string | number, points = 1): Promise<RateLimiterRes> {
    return this.shared.reward(key, points);
  }

  penalty(key: string | number, points?: number): Promise<RateLimiterRes> {
    return this.shared.penalty(key, points);
  }
  get(key: string | number): Promise<RateLimiterRes | null> {
    return this.shared.get(key);
  }
  set(key: string | number, points: number, secDuration: number): Promise<RateLimiterRes> {
    return this.shared.set(key, points, secDuration);
  }
  block(key: string | number, secDuration: number): Promise<RateLimiterRes> {
    return this.shared.block(key, secDuration);
  }
  delete(key: string | number): Promise<boolean> {
    this.leases.delete(String(key));
    return this.shared.delete(key);
  }

  /** Takes a lease of up to leaseSize points for `key`, or records that the window has none left. */
  private take(key: string): Promise<void> {
    this.sweep();
    // The window's end is reckoned from before the request, so a lease never outlives the shared window.
    const askedAt = Date.now();
    const lease: Lease = { tokens: 0, until: askedAt };
    this.leases.set(key, lease);
    const taking = this.shared.consume(key, this.leaseSize).then(
      (granted) => {
        lease.tokens = this.leaseSize;
        lease.until = askedAt + granted.msBeforeNext;
      },
      async (error: unknown) => {
        if (!(error instanceof RateLimiterRes)) throw error;
        // The count went past the limit by `over`: keep what fitted, give the rest back.
        const over = error.consumedPoints - this.points;
        const kept = Math.max(0, this.leaseSize - over);
        await this.shared.reward(key, this.leaseSize - kept).catch(() => undefined);
        lease.tokens = kept;
        lease.until = askedAt + error.msBeforeNext;
        if (kept === 0) lease.refused = error;
      },
    );
    lease.taking = taking.finally(() => {
      lease.taking = undefined;
      // A failed lease leaves nothing behind: the next call asks again.
      if (lease.tokens === 0 && !lease.refused && this.leases.get(key) === lease) this.leases.delete(key);
    });
    return lease.taking;
  }

  private sweep(): void {
    const now = Date.now();
    if (now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    for (const [key, lease] of this.leases) if (lease.until <= now && !lease.taking) this.leases.delete(key);
  }
}
