/**
 * Group commit: concurrent writes of one kind share a statement and a commit. A write that finds a free slot
 * goes at once, alone (no timer, so a quiet server pays one round trip as before); writes that arrive while
 * every slot is busy wait and go together in the next statement. Under load, N waiting writes cost one round
 * trip, one parse and one WAL flush instead of N.
 *
 * `run` gets the items in arrival order and returns one result per item, in the same order. When a batch of
 * several fails, its items are run again one by one, so a write that fails on its own merits fails alone and
 * never takes the others with it.
 */
export class GroupCommit<I, O> {
  private queue: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly limits: { maxBatch: number; maxInFlight: number },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.limits.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.limits.maxBatch);
      this.inFlight++;
      void this.settle(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async settle(batch: typeof this.queue): Promise<void> {
    try {
      const results = await this.run(batch.map((entry) => entry.item));
      batch.forEach((entry, i) => entry.resolve(results[i]));
    } catch (error) {
      if (batch.length === 1) return batch[0].reject(error);
      await Promise.all(
        batch.map((entry) =>
          this.run([entry.item]).then(
            ([result]) => entry.resolve(result),
            (alone: unknown) => entry.reject(alone),
          ),
        ),
      );
    }
  }
}
