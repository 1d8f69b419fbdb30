import { concurrentBatch } from './concurrent-batch';

describe('concurrentBatch', () => {
  it('answers calls made together with one batch, each with its own value, in call order', async () => {
    const batches: number[][] = [];
    const double = concurrentBatch<number, number>(async (keys) => {
      batches.push([...keys]);
      return keys.map((key) => key * 2);
    });
    // As separate sockets' messages arrive: separate callbacks of one loop turn, with ticks run between them.
    const answers = await Promise.all(
      [1, 2, 3].map((key) => new Promise<number>((resolve) => setImmediate(() => resolve(double.load(key))))),
    );
    expect(answers).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('caches nothing: a key asked again later is read again', async () => {
    let reads = 0;
    const value = concurrentBatch<string, number>(async (keys) => keys.map(() => ++reads));
    expect(await value.load('a')).toBe(1);
    expect(await value.load('a')).toBe(2);
  });

  it('fails every call of a batch whose read fails, and the next batch is unaffected', async () => {
    let fail = true;
    const read = concurrentBatch<number, number>(async (keys) => {
      if (fail) throw new Error('store down');
      return [...keys];
    });
    const failed = await Promise.allSettled([read.load(1), read.load(2)]);
    expect(failed.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await read.load(3)).toBe(3);
  });

  it('splits a crowd into batches of at most 500', async () => {
    const sizes: number[] = [];
    const read = concurrentBatch<number, number>(async (keys) => {
      sizes.push(keys.length);
      return [...keys];
    });
    await Promise.all(Array.from({ length: 1200 }, (_, i) => read.load(i)));
    expect(sizes).toEqual([500, 500, 200]);
  });
});
