import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { LeasedCounter } from './leased-counter';

/** A shared count in memory that records how often it is asked. */
function sharedCount(points: number, duration = 1) {
  const limiter = new RateLimiterMemory({ points, duration });
  const calls = { consume: 0, reward: 0 };
  const consume = limiter.consume.bind(limiter);
  const reward = limiter.reward.bind(limiter);
  limiter.consume = (key, n, options) => (calls.consume++, consume(key, n, options));
  limiter.reward = (key, n, options) => (calls.reward++, reward(key, n, options));
  return { limiter, calls };
}

const outcome = (attempt: Promise<unknown>): Promise<'ok' | 'refused'> =>
  attempt.then(
    () => 'ok',
    (error: unknown) => {
      if (error instanceof RateLimiterRes) return 'refused';
      throw error;
    },
  );

describe('LeasedCounter', () => {
  it('lets two instances together through exactly the limit, asking the shared count once per lease', async () => {
    const { limiter, calls } = sharedCount(20);
    const a = new LeasedCounter(limiter, 20, 5);
    const b = new LeasedCounter(limiter, 20, 5);
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => outcome((i % 2 ? a : b).consume('ann'))));
    expect(results.filter((r) => r === 'ok')).toHaveLength(20);
    // Four leases of 5, then one refusal per instance that each answers the rest of its calls.
    expect(calls.consume).toBe(6);
    expect((await limiter.get('ann'))?.consumedPoints).toBe(20);
  });

  it('keeps what fits of a lease that runs past the limit and gives the rest back', async () => {
    const { limiter } = sharedCount(7);
    const a = new LeasedCounter(limiter, 7, 5);
    const b = new LeasedCounter(limiter, 7, 5);
    await a.consume('ann');
    const fromB = await Promise.all(Array.from({ length: 4 }, () => outcome(b.consume('ann'))));
    expect(fromB).toEqual(['ok', 'ok', 'refused', 'refused']);
    // a's lease holds 4 unspent points; b got the 2 that were left.
    expect((await limiter.get('ann'))?.consumedPoints).toBe(7);
    expect(await Promise.all(Array.from({ length: 5 }, () => outcome(a.consume('ann'))))).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
      'refused',
    ]);
  });

  it('answers refusals itself until the window ends, then leases again', async () => {
    const { limiter, calls } = sharedCount(4, 1);
    const a = new LeasedCounter(limiter, 4, 2);
    const first = await Promise.all(Array.from({ length: 10 }, () => outcome(a.consume('ann'))));
    expect(first.filter((r) => r === 'ok')).toHaveLength(4);
    const asked = calls.consume;
    const refusal = await a.consume('ann').catch((error: RateLimiterRes) => error);
    expect(refusal).toBeInstanceOf(RateLimiterRes);
    expect(refusal.msBeforeNext).toBeGreaterThan(0);
    expect(calls.consume).toBe(asked);

    await new Promise((resolve) => setTimeout(resolve, refusal.msBeforeNext + 50));
    expect(await outcome(a.consume('ann'))).toBe('ok');
    expect(calls.consume).toBe(asked + 1);
  });

  it('lets unspent points of a lease lapse with its window', async () => {
    const { limiter, calls } = sharedCount(4, 1);
    const a = new LeasedCounter(limiter, 4, 2);
    await a.consume('ann');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // The leftover point belonged to the last window: this call takes a new lease in the new one.
    await a.consume('ann');
    expect(calls.consume).toBe(2);
    expect((await limiter.get('ann'))?.consumedPoints).toBe(2);
  });

  it('makes one request for concurrent calls that find no point, and asks again after a failed one', async () => {
    const { limiter, calls } = sharedCount(100);
    const a = new LeasedCounter(limiter, 100, 10);
    await Promise.all(Array.from({ length: 10 }, () => a.consume('ann')));
    expect(calls.consume).toBe(1);

    const consume = limiter.consume.bind(limiter);
    limiter.consume = () => Promise.reject(new Error('store down'));
    await expect(a.consume('bob')).rejects.toThrow('store down');
    limiter.consume = consume;
    expect(await outcome(a.consume('bob'))).toBe('ok');
  });

  it('gives a point back to the shared count, where the next lease of any instance finds it', async () => {
    const { limiter, calls } = sharedCount(4);
    const a = new LeasedCounter(limiter, 4, 2);
    const b = new LeasedCounter(limiter, 4, 2);
    await a.consume('ann');
    await a.consume('ann');
    await b.consume('ann');
    await b.consume('ann');
    expect(await outcome(b.consume('ann'))).toBe('refused');
    await a.reward('ann');
    expect(calls.reward).toBeGreaterThan(0);
    // b's refusal is cached until the window ends; a fresh instance leases the point given back.
    const c = new LeasedCounter(limiter, 4, 2);
    expect(await outcome(c.consume('ann'))).toBe('ok');
    expect(await outcome(c.consume('ann'))).toBe('refused');
  });
});
