export interface GroupCommitLimits {
  /** The most items one statement carries. */
  maxBatch: number;
  /** The most statements running at once. */
  maxInFlight: number;
  /**
   * While a statement runs, the next one waits for it this long before it may start beside it (0: at once).
   * Waiting gathers more items into the next statement; not waiting forever keeps one slow statement from
   * stopping the line.
   */
  overlapAfterMs?: number;
}

/**
 * Group commit: concurrent writes of one kind share a statement and a commit. A write that finds nothing
 * running goes at once, alone (no timer, so a quiet server pays one round trip as before); writes that arrive
 * while statements run wait until another may start (a free slot, and overlapAfterMs) and go together in it.
 * Under load, N waiting writes cost one round trip, one parse and one WAL flush instead of N.
 *
 * `run` gets the items in arrival order and returns one result per item, in the same order. When a batch of
 * several fails, its items are run again one by one, so a write that fails on its own merits fails alone and
 * never takes the others with it.
 */
export class GroupCommit<I, O> {
  private queue: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  /** When each running statement started, oldest first. */
  private readonly running: number[] = [];
  /** Set while items wait for the newest running statement to have run overlapAfterMs. */
  private overlapTimer?: NodeJS.Timeout;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly limits: GroupCommitLimits,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running.length < this.limits.maxInFlight && this.queue.length > 0) {
      if (this.running.length > 0 && !this.mayOverlap()) return;
      const batch = this.queue.splice(0, this.limits.maxBatch);
      const startedAt = Date.now();
      this.running.push(startedAt);
      void this.settle(batch).finally(() => {
        this.running.splice(this.running.indexOf(startedAt), 1);
        this.pump();
      });
    }
  }

  /** Whether the next statement may start beside the running ones now; if not yet, pumps again when it may. */
  private mayOverlap(): boolean {
    const wait = this.running[this.running.length - 1] + (this.limits.overlapAfterMs ?? 0) - Date.now();
    if (wait <= 0) return true;
    if (!this.overlapTimer) {
      this.overlapTimer = setTimeout(() => {
        this.overlapTimer = undefined;
        this.pump();
      }, wait);
    }
    return false;
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
