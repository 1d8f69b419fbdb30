import { Sequenced } from './seq-sequencer';

/** How long an event that skips ahead is held, waiting for the ones before it from the bus. */
const REORDER_WINDOW_MS = 25;
/** The most events held for one gap; past it they go on at once. */
const MAX_HELD = 100;

/**
 * Puts one chat's live events back in seq order before its readers see them. Publishes of a chat can reach the
 * bus out of order (two commits finishing together, or on two instances), so an event that skips ahead is held
 * briefly for the ones before it; a gap that outlasts the window (an event the bus lost, or one very late) lets
 * what is held go on, and the late event still goes on when it comes. messageAdded's streams then read the gap
 * from the store; the inbox tells only what is newer than what a list shows.
 */
export class ReorderWindow<T extends Sequenced> {
  /** The seq after the highest passed on; unknown until the first event. */
  private expected?: number;
  private readonly held = new Map<number, T>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly pass: (item: T) => void,
    private readonly windowMs = REORDER_WINDOW_MS,
    private readonly maxHeld = MAX_HELD,
  ) {}

  offer(item: T): void {
    if (this.expected === undefined || item.seq <= this.expected) {
      this.emit(item);
      for (let next = this.held.get(this.expected!); next; next = this.held.get(this.expected!)) {
        this.held.delete(next.seq);
        this.emit(next);
      }
      if (!this.held.size) this.stopTimer();
      return;
    }
    this.held.set(item.seq, item);
    if (this.held.size >= this.maxHeld) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
  }

  /**
   * Puts another state of an item it holds (the same seq) in its place when `newer` says so; returns whether it
   * held one.
   */
  replaceHeld(item: T, newer: (held: T) => boolean): boolean {
    const held = this.held.get(item.seq);
    if (!held) return false;
    if (newer(held)) this.held.set(item.seq, item);
    return true;
  }

  /** Passes on what is held, in order, without waiting for the gap before it. */
  flush(): void {
    this.stopTimer();
    const held = [...this.held.values()].sort((a, b) => a.seq - b.seq);
    this.held.clear();
    for (const item of held) this.emit(item);
  }

  /** Drops what is held (nobody is left to pass it to). */
  clear(): void {
    this.stopTimer();
    this.held.clear();
  }

  private emit(item: T): void {
    this.expected = Math.max(this.expected ?? 0, item.seq + 1);
    this.pass(item);
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
