import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('lets a burst through, then refills at the configured rate', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 3, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    const wait = limiter.take('a');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(100);
    now += 100;
    expect(limiter.take('a')).toBe(0);
  });

  it('keeps callers apart', () => {
    const limiter = new RateLimiter(1, 1, () => 0);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('b')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
  });

  it('handles keys like __proto__ as plain keys', () => {
    const limiter = new RateLimiter(1, 1, () => 0);
    expect(limiter.take('__proto__')).toBe(0);
    expect(limiter.take('constructor')).toBe(0);
    expect(limiter.take('__proto__')).toBeGreaterThan(0);
  });
});
