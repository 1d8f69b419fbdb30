import { GroupCommit } from './group-commit';

/** A `run` whose calls stay open until the test settles them. */
function controlledRun() {
  const calls: { items: number[]; settle: (fail?: Error) => void }[] = [];
  const run = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      calls.push({ items, settle: (fail) => (fail ? reject(fail) : resolve(items.map((n) => `r${n}`))) });
    });
  return { calls, run };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('sends a lone write at once, and groups the writes that arrive while the slots are busy', async () => {
    const { calls, run } = controlledRun();
    const group = new GroupCommit(run, { maxBatch: 10, maxInFlight: 1 });
    const first = group.submit(1);
    expect(calls.map((c) => c.items)).toEqual([[1]]);
    const rest = [2, 3, 4].map((n) => group.submit(n));
    expect(calls).toHaveLength(1);
    calls[0].settle();
    expect(await first).toBe('r1');
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3, 4]]);
    calls[1].settle();
    expect(await Promise.all(rest)).toEqual(['r2', 'r3', 'r4']);
  });

  it('keeps at most maxInFlight batches of at most maxBatch items', async () => {
    const { calls, run } = controlledRun();
    const group = new GroupCommit(run, { maxBatch: 2, maxInFlight: 2 });
    const all = [1, 2, 3, 4, 5, 6, 7].map((n) => group.submit(n));
    expect(calls.map((c) => c.items)).toEqual([[1], [2]]);
    calls[0].settle();
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1], [2], [3, 4]]);
    calls[1].settle();
    await tick();
    expect(calls.map((c) => c.items)).toEqual([[1], [2], [3, 4], [5, 6]]);
    calls[2].settle();
    calls[3].settle();
    await tick();
    calls[4].settle();
    expect(await Promise.all(all)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
  });

  describe('with overlapAfterMs', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());

    it('lets the next statement start beside a running one only once that one has run overlapAfterMs', async () => {
      const { calls, run } = controlledRun();
      const group = new GroupCommit(run, { maxBatch: 10, maxInFlight: 2, overlapAfterMs: 10 });
      const all = [1, 2, 3].map((n) => group.submit(n));
      expect(calls.map((c) => c.items)).toEqual([[1]]);
      jest.advanceTimersByTime(9);
      const late = group.submit(4);
      expect(calls).toHaveLength(1);
      jest.advanceTimersByTime(1);
      // Everything that gathered meanwhile goes in the one overlapping statement.
      expect(calls.map((c) => c.items)).toEqual([[1], [2, 3, 4]]);
      // Two run now: the third waits for a free slot, whatever the time.
      const last = group.submit(5);
      jest.advanceTimersByTime(50);
      expect(calls).toHaveLength(2);
      calls[1].settle();
      await tick();
      expect(calls.map((c) => c.items)).toEqual([[1], [2, 3, 4], [5]]);
      calls[0].settle();
      calls[2].settle();
      expect(await Promise.all([...all, late, last])).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    });

    it('sends what waits as soon as the running statement ends, without waiting out the timer', async () => {
      const { calls, run } = controlledRun();
      const group = new GroupCommit(run, { maxBatch: 10, maxInFlight: 2, overlapAfterMs: 10 });
      const first = group.submit(1);
      const second = group.submit(2);
      jest.advanceTimersByTime(3);
      calls[0].settle();
      expect(await first).toBe('r1');
      await tick();
      expect(calls.map((c) => c.items)).toEqual([[1], [2]]);
      // The timer set for the overlap finds nothing to do.
      jest.advanceTimersByTime(20);
      expect(calls).toHaveLength(2);
      calls[1].settle();
      expect(await second).toBe('r2');
    });
  });

  it('runs a failed batch again item by item, so only the item at fault fails', async () => {
    const run = jest.fn(async (items: number[]) => {
      if (items.includes(13)) throw new Error(`refused ${items.join(',')}`);
      return items.map((n) => n * 10);
    });
    const group = new GroupCommit(run, { maxBatch: 10, maxInFlight: 1 });
    const results = await Promise.allSettled([1, 2, 13, 4].map((n) => group.submit(n)));
    expect(results).toEqual([
      { status: 'fulfilled', value: 10 },
      { status: 'fulfilled', value: 20 },
      { status: 'rejected', reason: new Error('refused 13') },
      { status: 'fulfilled', value: 40 },
    ]);
    // [1] alone, then [2, 13, 4] together, then each of those on its own.
    expect(run.mock.calls.map(([items]) => items)).toEqual([[1], [2, 13, 4], [2], [13], [4]]);
  });

  it('reports a lone failure as it is, and goes on with what waits', async () => {
    const { calls, run } = controlledRun();
    const group = new GroupCommit(run, { maxBatch: 10, maxInFlight: 1 });
    const first = group.submit(1);
    const second = group.submit(2);
    calls[0].settle(new Error('down'));
    await expect(first).rejects.toThrow('down');
    await tick();
    calls[1].settle();
    expect(await second).toBe('r2');
  });
});
