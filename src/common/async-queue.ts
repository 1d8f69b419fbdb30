/**
 * Where a push source hands its items: a consumer that writes each item out at once (the fastlane) then costs no
 * promise, closure or microtask per item. An object rather than callbacks, so a long-lived consumer can be its
 * own sink and hold no closures for it.
 */
export interface PushSink<T> {
  /** One item, in order, synchronously from the producer's push. */
  push(item: T): void;
  /** The source has ended (after its last item). */
  end(): void;
}

/** A source that can hand its items to a synchronous sink instead of being pulled. */
export interface PushSource<T> {
  /** From now on every item goes to `sink`; `sink.end()` once the source ends (at once if it has). */
  drainTo(sink: PushSink<T>): void;
}

export function isPushSource<T>(source: object): source is PushSource<T> {
  return typeof (source as Partial<PushSource<T>>).drainTo === 'function';
}

/**
 * A bounded push-to-pull queue that backs a subscription's AsyncIterator. The producer pushes; graphql-ws
 * pulls at the pace the socket drains. Past `capacity` the push is refused and the owner decides what to do
 * (close the slow client), so one client that stops reading cannot grow memory without bound. A consumer that
 * never waits can take the items as they come instead (`drainTo`).
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T>, PushSource<T> {
  private readonly items: T[] = [];
  private sink?: PushSink<T>;
  // Made on first use: most queues live as long as their subscription, and most never need these.
  private waiting?: ((result: IteratorResult<T>) => void)[];
  private drainWaiters?: { level: number; resolve: () => void }[];
  private onClose?: (() => void)[];
  private done = false;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.items.length;
  }

  get closed(): boolean {
    return this.done;
  }

  /** Returns false, and keeps nothing, when the queue is full or closed. */
  push(item: T): boolean {
    if (this.done) return false;
    if (this.sink) {
      this.sink.push(item);
      return true;
    }
    const waiter = this.waiting?.shift();
    if (waiter) {
      waiter({ value: item, done: false });
      return true;
    }
    if (this.items.length >= this.capacity) return false;
    this.items.push(item);
    return true;
  }

  drainTo(sink: PushSink<T>): void {
    if (this.sink) throw new Error('AsyncQueue: already draining to a sink');
    this.sink = sink;
    for (const item of this.items.splice(0)) sink.push(item);
    this.releaseDrainWaiters();
    if (this.done) sink.end();
  }

  /** Resolves when at most `level` items are queued (or the queue is closed): back-pressure for bulk producers. */
  whenBelow(level: number): Promise<void> {
    if (this.done || this.items.length <= level) return Promise.resolve();
    return new Promise((resolve) => (this.drainWaiters ??= []).push({ level, resolve }));
  }

  /** Ends the stream after the queued items; registered close handlers run once. */
  end(): void {
    if (this.done) return;
    this.done = true;
    for (const waiter of this.waiting?.splice(0) ?? []) waiter({ value: undefined, done: true });
    for (const waiter of this.drainWaiters?.splice(0) ?? []) waiter.resolve();
    this.sink?.end();
    for (const handler of this.onClose?.splice(0) ?? []) handler();
    this.ended();
  }

  /** For subclasses: runs once, when the queue ends (a handler that costs no closure per queue). */
  protected ended(): void {}

  onEnd(handler: () => void): void {
    if (this.done) handler();
    else (this.onClose ??= []).push(handler);
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) {
      this.releaseDrainWaiters();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting ??= []).push(resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.end();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private releaseDrainWaiters(): void {
    if (!this.drainWaiters?.length) return;
    const size = this.items.length;
    this.drainWaiters = this.drainWaiters.filter((waiter) => {
      if (size > waiter.level) return true;
      waiter.resolve();
      return false;
    });
  }
}
