import { AsyncQueue } from './async-queue';

describe('AsyncQueue', () => {
  it('hands pushed items to a waiting consumer in order', async () => {
    const queue = new AsyncQueue<number>(10);
    const first = queue.next();
    queue.push(1);
    queue.push(2);
    expect(await first).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: 2, done: false });
  });

  it('refuses pushes past its capacity', () => {
    const queue = new AsyncQueue<number>(2);
    expect([queue.push(1), queue.push(2), queue.push(3)]).toEqual([true, true, false]);
    expect(queue.size).toBe(2);
  });

  it('ends: waiting consumers finish, close handlers run once, later pushes are refused', async () => {
    const queue = new AsyncQueue<number>(2);
    const closed = jest.fn();
    queue.onEnd(closed);
    const pending = queue.next();
    await queue.return();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(queue.push(1)).toBe(false);
    queue.end();
    expect(closed).toHaveBeenCalledTimes(1);
  });

  it('whenBelow resolves once the consumer drains to the level', async () => {
    const queue = new AsyncQueue<number>(10);
    for (let i = 0; i < 5; i++) queue.push(i);
    let resolved = false;
    const below = queue.whenBelow(2).then(() => (resolved = true));
    await queue.next();
    await queue.next();
    await Promise.resolve();
    expect(resolved).toBe(false);
    await queue.next();
    await below;
    expect(resolved).toBe(true);
  });

  it('drainTo: hands over what is queued, then every push synchronously, in order, past the capacity', async () => {
    const queue = new AsyncQueue<number>(2);
    queue.push(1);
    queue.push(2);
    const below = queue.whenBelow(0);
    const seen: number[] = [];
    const end = jest.fn();
    queue.drainTo({ push: (item) => seen.push(item), end });
    expect(seen).toEqual([1, 2]);
    for (let i = 3; i <= 5; i++) expect(queue.push(i)).toBe(true);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(queue.size).toBe(0);
    await below;
    expect(() => queue.drainTo({ push: () => undefined, end: () => undefined })).toThrow(/already/);
    expect(end).not.toHaveBeenCalled();
    queue.end();
    expect(end).toHaveBeenCalledTimes(1);
    expect(queue.push(6)).toBe(false);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('drainTo on a queue that has ended: hands over what is left, then ends the sink', () => {
    const queue = new AsyncQueue<number>(4);
    queue.push(1);
    queue.end();
    const seen: number[] = [];
    const end = jest.fn();
    queue.drainTo({ push: (item) => seen.push(item), end });
    expect(seen).toEqual([1]);
    expect(end).toHaveBeenCalledTimes(1);
  });
});
