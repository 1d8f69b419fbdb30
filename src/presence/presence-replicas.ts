import { Logger } from '@nestjs/common';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { PresenceDiff, StoredMeta } from './presence-meta';
import { PresenceChange, PresenceState } from './presence-state';
import { PresenceStore } from './presence-store';

export type ReplicaListener = (change: PresenceChange) => void;

/**
 * This instance's copy of one chat's presence, kept while someone here needs it: subscribe to the diffs
 * first, then read the snapshot, then apply the diffs newer than it; a gap or a new store epoch re-reads the
 * snapshot and tells listeners the difference as one change.
 */
export class Replica {
  readonly state = new PresenceState();
  private readonly listeners = new Set<ReplicaListener>();
  private readonly versionWaiters: { version: number; resolve: () => void }[] = [];
  private buffered: PresenceDiff[] | null = [];
  private resyncing: Promise<void> | null = null;
  private unsubscribe?: Unsubscribe;
  users = 0;

  constructor(
    readonly chatId: string,
    private readonly store: PresenceStore,
    private readonly logger: Logger,
  ) {}

  async start(bus: EventBus): Promise<void> {
    this.unsubscribe = await bus.subscribe(topics.presence(this.chatId), (diff) => this.onDiff(diff));
    await this.resync();
  }

  stop(): void {
    this.unsubscribe?.();
    this.listeners.clear();
    for (const waiter of this.versionWaiters.splice(0)) waiter.resolve();
  }

  listen(listener: ReplicaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  metas(): StoredMeta[] {
    return this.state.list();
  }

  /** Resolves once the replica has applied `version` (of the current epoch), re-reading if it takes too long. */
  async reach(version: number, timeoutMs = 2000): Promise<void> {
    if (this.state.version >= version) return;
    let timer: NodeJS.Timeout | undefined;
    const reached = new Promise<void>((resolve) => this.versionWaiters.push({ version, resolve }));
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([reached, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') await this.resync();
  }

  /** Re-reads the snapshot; concurrent calls share one read. */
  resync(): Promise<void> {
    this.resyncing ??= this.readSnapshot().finally(() => (this.resyncing = null));
    return this.resyncing;
  }

  private async readSnapshot(): Promise<void> {
    this.buffered ??= [];
    try {
      const snapshot = await this.store.snapshot(this.chatId);
      this.emit(this.state.reset(snapshot));
      const pending = this.buffered;
      this.buffered = null;
      for (const diff of pending.sort((a, b) => a.version - b.version)) this.onDiff(diff);
    } catch (error) {
      // Keep serving the last known state; the next diff, reconnect or heartbeat tries again.
      this.buffered = null;
      this.logger.warn(`presence snapshot for chat ${this.chatId} failed: ${(error as Error).message}`);
    }
    this.releaseWaiters();
  }

  private onDiff(diff: PresenceDiff): void {
    if (this.buffered) {
      if (this.buffered.length < 10_000) this.buffered.push(diff);
      return;
    }
    const result = this.state.apply(diff);
    if (result === 'applied') {
      this.emit({ joins: diff.joins, leaves: diff.leaves });
      this.releaseWaiters();
    } else if (result === 'gap') {
      void this.resync();
    }
  }

  private emit(change: PresenceChange): void {
    if (!change.joins.length && !change.leaves.length) return;
    for (const listener of this.listeners) listener(change);
  }

  private releaseWaiters(): void {
    for (let i = this.versionWaiters.length - 1; i >= 0; i--) {
      if (this.state.version >= this.versionWaiters[i].version) {
        this.versionWaiters[i].resolve();
        this.versionWaiters.splice(i, 1);
      }
    }
  }
}
