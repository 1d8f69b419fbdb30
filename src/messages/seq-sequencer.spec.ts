import { SeqSequencer } from './seq-sequencer';

interface Item {
  seq: number;
}

/** A store with messages 1..stored, and a consumer that records what it was handed. */
function harness(start: number, stored: number, options: { capacity?: number; pageSize?: number } = {}) {
  const store = { last: stored, reads: 0 };
  const delivered: number[] = [];
  const errors: unknown[] = [];
  const sequencer = new SeqSequencer<Item>(
    start,
    {
      fetchAfter: async (after, limit) => {
        store.reads++;
        const items: Item[] = [];
        for (let seq = after + 1; seq <= store.last && items.length < limit; seq++) items.push({ seq });
        return items;
      },
      deliver: (item) => {
        if (options.capacity !== undefined && delivered.length >= options.capacity) return false;
        delivered.push(item.seq);
        return true;
      },
      whenReady: async () => undefined,
      onError: (error) => errors.push(error),
    },
    options.pageSize ?? 3,
  );
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const flush = async () => {
    for (let i = 0; i < 20; i++) await settle();
  };
  return { sequencer, store, delivered, errors, flush };
}

describe('SeqSequencer', () => {
  it('delivers consecutive live events straight through without reading the store', async () => {
    const h = harness(5, 5);
    for (const seq of [6, 7, 8]) h.sequencer.offer({ seq });
    expect(h.delivered).toEqual([6, 7, 8]);
    expect(h.store.reads).toBe(0);
  });

  it('drops duplicates and events at or below the last delivered seq', async () => {
    const h = harness(5, 7);
    h.sequencer.offer({ seq: 6 });
    h.sequencer.offer({ seq: 6 });
    h.sequencer.offer({ seq: 3 });
    h.sequencer.offer({ seq: 7 });
    h.sequencer.offer({ seq: 7 });
    expect(h.delivered).toEqual([6, 7]);
  });

  it('fills a gap from the store when a live event skips ahead, then goes on live', async () => {
    const h = harness(0, 10);
    h.sequencer.offer({ seq: 1 });
    h.sequencer.offer({ seq: 10 }); // 2..9 were dropped by the bus
    await h.flush();
    expect(h.delivered).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    h.store.last = 11;
    h.sequencer.offer({ seq: 11 });
    expect(h.delivered.at(-1)).toBe(11);
  });

  it('resumes after afterSeq in pages, and absorbs live events that arrive meanwhile exactly once', async () => {
    const h = harness(2, 12, { pageSize: 4 });
    const resumed = h.sequencer.resync();
    // While catching up, live events for seqs already being read, and newer ones, arrive.
    h.store.last = 14;
    h.sequencer.offer({ seq: 13 });
    h.sequencer.offer({ seq: 5 });
    h.sequencer.offer({ seq: 14 });
    await resumed;
    await h.flush();
    expect(h.delivered).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('re-reads after a bus reconnect so a silently lost tail still arrives', async () => {
    const h = harness(3, 3);
    h.store.last = 6; // published while the bus was down; no live event will come
    await h.sequencer.resync();
    expect(h.delivered).toEqual([4, 5, 6]);
  });

  it('stops when the consumer cannot take more', async () => {
    const h = harness(0, 10, { capacity: 4 });
    await h.sequencer.resync();
    h.sequencer.offer({ seq: 11 });
    expect(h.delivered).toEqual([1, 2, 3, 4]);
  });

  it('reports a store failure instead of throwing into the bus, and reads again after a pause until it works', async () => {
    jest.useFakeTimers();
    try {
      const errors: unknown[] = [];
      const delivered: number[] = [];
      let failures = 3;
      let reads = 0;
      const sequencer = new SeqSequencer<Item>(0, {
        fetchAfter: async (after) => {
          reads++;
          if (failures-- > 0) throw new Error('db down');
          return [1, 2, 3, 4, 5, 6].filter((seq) => seq > after).map((seq) => ({ seq }));
        },
        deliver: (item) => delivered.push(item.seq) > 0,
        whenReady: async () => undefined,
        onError: (error) => errors.push(error),
      });
      sequencer.offer({ seq: 5 });
      await jest.advanceTimersByTimeAsync(0);
      expect(errors).toHaveLength(1);
      // Live gaps while the store is down wait for the retry instead of reading at once.
      sequencer.offer({ seq: 6 });
      await jest.advanceTimersByTimeAsync(50);
      expect(reads).toBe(1);
      // 100 ms, then 200 ms, then 400 ms: the fourth read works and everything arrives, in order, once.
      await jest.advanceTimersByTimeAsync(100 + 200 + 400);
      expect(reads).toBe(4);
      expect(errors).toHaveLength(3);
      expect(delivered).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('stops retrying once stopped', async () => {
    jest.useFakeTimers();
    try {
      let reads = 0;
      const sequencer = new SeqSequencer<Item>(0, {
        fetchAfter: () => {
          reads++;
          return Promise.reject(new Error('db down'));
        },
        deliver: () => true,
        whenReady: async () => undefined,
        onError: () => undefined,
      });
      sequencer.offer({ seq: 2 });
      await jest.advanceTimersByTimeAsync(0);
      sequencer.stop();
      await jest.advanceTimersByTimeAsync(10_000);
      expect(reads).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });
});
