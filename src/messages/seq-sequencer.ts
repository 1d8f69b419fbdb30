/**
 * The gap-free delivery algorithm of one messageAdded subscription (DESIGN.md, "The way data flows", 3).
 *
 * Live events with seq = last + 1 go straight out. Anything else that is newer (a gap: the bus dropped
 * something, or the subscription is still resuming) is not buffered: the store is the source of truth, since
 * a message is committed before it is published, so the sequencer reads `seq > last` from the store until it
 * has passed every seq it has seen. Memory therefore stays bounded by the consumer's queue alone.
 */
export interface Sequenced {
  seq: number;
}

export interface SequencerIo<T extends Sequenced> {
  /** Up to `limit` items with seq > afterSeq, ascending. */
  fetchAfter(afterSeq: number, limit: number): Promise<T[]>;
  /** Hands one item to the consumer; false when it cannot take more (the sequencer then stops). */
  deliver(item: T): boolean;
  /** Resolves when the consumer has room for a page: back-pressure for catch-up reads. */
  whenReady(): Promise<void>;
  /** A store read failed; the sequencer tries again after a pause, for as long as it runs. */
  onError(error: unknown): void;
}

/** Pauses before a failed store read is tried again: doubling, so a store that is down is not hammered. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

export class SeqSequencer<T extends Sequenced> {
  private last: number;
  /** The highest seq known to exist: every seq up to it must be delivered. */
  private target: number;
  private catchingUp = false;
  private stopped = false;
  /** Set while a failed read waits to be tried again; live gaps and resyncs leave the retry to it. */
  private retryTimer?: NodeJS.Timeout;
  private retryMs = FIRST_RETRY_MS;
  /** Whether the retry must read to the end of the store (a failed resync), not only up to the target. */
  private retryDrains = false;

  constructor(
    lastDelivered: number,
    private readonly io: SequencerIo<T>,
    private readonly pageSize = 200,
  ) {
    this.last = lastDelivered;
    this.target = lastDelivered;
  }

  get lastSeq(): number {
    return this.last;
  }

  /** A live event from the bus. */
  offer(item: T): void {
    if (this.stopped || item.seq <= this.last) return;
    if (!this.catchingUp && item.seq === this.last + 1) {
      this.target = Math.max(this.target, item.seq);
      this.emit(item);
      return;
    }
    this.target = Math.max(this.target, item.seq);
    void this.catchUp();
  }

  /**
   * Reads from the store up to `knownSeq` (or until the store has nothing newer when it is omitted):
   * used to resume after `afterSeq` and after the bus reconnects.
   */
  resync(knownSeq?: number): Promise<void> {
    if (knownSeq !== undefined) this.target = Math.max(this.target, knownSeq);
    else if (this.retryTimer) this.retryDrains = true;
    return this.catchUp(knownSeq === undefined);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async catchUp(drainStore = false): Promise<void> {
    if (this.catchingUp || this.stopped || this.retryTimer) return;
    this.catchingUp = true;
    try {
      let readToEnd = !drainStore;
      while (!this.stopped && (this.last < this.target || !readToEnd)) {
        await this.io.whenReady();
        if (this.stopped) return;
        const page = await this.io.fetchAfter(this.last, this.pageSize);
        for (const item of page) {
          // The store is gap-free, so this is seq = last + 1; were it ever not, moving on beats spinning.
          if (item.seq <= this.last) continue;
          this.target = Math.max(this.target, item.seq);
          if (!this.emit(item)) return;
        }
        if (page.length < this.pageSize) {
          readToEnd = true;
          // The store had no more: whatever the target says beyond that is not committed yet; cannot happen
          // for seqs seen on the bus (published after commit), so stop rather than spin.
          if (this.last < this.target && page.length === 0) break;
        }
      }
      this.retryMs = FIRST_RETRY_MS;
    } catch (error) {
      // The messages are in the store; the subscription waits for it rather than end with a gap.
      this.io.onError(error);
      this.retryLater(drainStore);
    } finally {
      this.catchingUp = false;
    }
  }

  private retryLater(drainStore: boolean): void {
    if (this.stopped) return;
    this.retryDrains ||= drainStore;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const drain = this.retryDrains;
      this.retryDrains = false;
      void this.catchUp(drain);
    }, delay);
  }

  private emit(item: T): boolean {
    this.last = item.seq;
    if (!this.io.deliver(item)) {
      this.stopped = true;
      return false;
    }
    return true;
  }
}
