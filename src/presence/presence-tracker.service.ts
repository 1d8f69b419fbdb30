import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { StoredMeta } from './presence-meta';
import { Replica } from './presence-replicas';
import { PresenceStore } from './presence-store';

interface OwnedMeta {
  chatId: string;
  meta: StoredMeta;
  lapseTimer?: NodeJS.Timeout;
}

/**
 * This instance's side of presence: the metas of the connections it serves (it adds and removes them, and
 * lapses their typing), the replicas of the chats it serves, its lease, the reaping of dead instances' metas,
 * and re-asserting its own metas whenever the store lost or missed them.
 */
@Injectable()
export class PresenceTracker implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PresenceTracker.name);
  private readonly owned = new Map<string, OwnedMeta>();
  /** The same metas by chat, so a message event finds its chat's few owned metas without a scan of all. */
  private readonly ownedByChat = new Map<string, Set<OwnedMeta>>();
  private readonly replicas = new Map<string, Promise<Replica>>();
  private readonly replicaListeners = new Map<string, () => void>();
  private heartbeatTimer?: NodeJS.Timeout;
  private readonly restoreQueue: ((chatId: string) => boolean)[] = [];
  private restoring: Promise<void> | null = null;
  /** Whether a heartbeat has gone through: from then on a lease found missing means this instance was lost. */
  private beaten = false;
  private storeDown = false;
  private stopped = false;
  private unsubscribeReconnect?: Unsubscribe;

  constructor(
    @Inject(PresenceStore) private readonly store: PresenceStore,
    private readonly bus: EventBus,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  get instanceId(): string {
    return this.config.instanceId;
  }

  async onModuleInit(): Promise<void> {
    await this.store.connect(5000);
    // A restart under the same INSTANCE_ID first removes what the previous run left behind.
    await this.store.reap(this.instanceId, Date.now(), true).catch((error: Error) => {
      this.logger.warn(`could not clear a previous run's presence: ${error.message}`);
    });
    await this.beat();
    this.heartbeatTimer = setInterval(() => void this.beat(), this.config.presence.heartbeatMs);
    this.heartbeatTimer.unref();
    // Presence diffs published while a bus connection was away are lost, and a shard that failed over may have
    // lost the last writes made on it: re-assert this instance's metas in the chats concerned and re-read them.
    this.unsubscribeReconnect = this.bus.onReconnect((affected) => {
      void this.restore((chatId) => affected(topics.presence(chatId)));
    });
  }

  /** SIGTERM: every meta of this instance leaves at once, before sockets close. */
  async onApplicationShutdown(): Promise<void> {
    await this.untrackAll();
    this.unsubscribeReconnect?.();
    await this.store.close();
  }

  async untrackAll(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    for (const owned of this.owned.values()) clearTimeout(owned.lapseTimer);
    this.owned.clear();
    this.ownedByChat.clear();
    const removed = await this.store.reap(this.instanceId, Date.now(), true).catch((error: Error) => {
      this.logger.warn(`could not remove this instance's presence: ${error.message}`);
      return 0;
    });
    this.logger.log(`removed ${removed} presence metas of this instance`);
  }

  newTrackKey(): string {
    return randomBytes(9).toString('base64url');
  }

  async track(chatId: string, meta: StoredMeta): Promise<number> {
    const owned: OwnedMeta = { chatId, meta };
    this.own(owned);
    try {
      return await this.store.join(chatId, meta);
    } catch (error) {
      this.disown(owned);
      // A join that timed out still runs once Redis answers; this leave, sent after it, then undoes it.
      void this.store.leave(chatId, this.instanceId, [meta.trackKey]).catch(() => undefined);
      throw error;
    }
  }

  private own(owned: OwnedMeta): void {
    this.owned.set(owned.meta.trackKey, owned);
    let inChat = this.ownedByChat.get(owned.chatId);
    if (!inChat) this.ownedByChat.set(owned.chatId, (inChat = new Set()));
    inChat.add(owned);
    this.metrics.presenceMetas.set(this.owned.size);
  }

  private disown(owned: OwnedMeta): void {
    clearTimeout(owned.lapseTimer);
    this.owned.delete(owned.meta.trackKey);
    const inChat = this.ownedByChat.get(owned.chatId);
    inChat?.delete(owned);
    if (inChat?.size === 0) this.ownedByChat.delete(owned.chatId);
    this.metrics.presenceMetas.set(this.owned.size);
  }

  /** How many metas a user has in the replica's chat, counting this instance's joins still on their way. */
  metasOf(replica: Replica, userId: string): number {
    const keys = new Set(
      replica
        .metas()
        .filter((meta) => meta.userId === userId)
        .map((meta) => meta.trackKey),
    );
    for (const owned of this.owned.values()) {
      if (owned.chatId === replica.chatId && owned.meta.userId === userId) keys.add(owned.meta.trackKey);
    }
    return keys.size;
  }

  async untrack(chatId: string, trackKey: string): Promise<void> {
    const owned = this.owned.get(trackKey);
    if (!owned) return;
    this.disown(owned);
    // If Redis is away this fails; reconciliation removes the meta when it is back.
    await this.store.leave(chatId, this.instanceId, [trackKey]).catch((error: Error) => {
      this.logger.warn(`untrack in chat ${chatId} failed, will reconcile: ${error.message}`);
    });
  }

  /** The replica of a chat, started on first use; pair every acquire with a release. */
  async acquire(chatId: string): Promise<Replica> {
    let pending = this.replicas.get(chatId);
    if (!pending) {
      pending = this.startReplica(chatId);
      this.replicas.set(chatId, pending);
      this.metrics.presenceReplicas.set(this.replicas.size);
      pending.catch(() => {
        if (this.replicas.get(chatId) === pending) this.replicas.delete(chatId);
        this.metrics.presenceReplicas.set(this.replicas.size);
      });
    }
    const replica = await pending;
    // Released and stopped while this call waited: start afresh.
    if (this.replicas.get(chatId) !== pending) return this.acquire(chatId);
    replica.users++;
    return replica;
  }

  release(replica: Replica): void {
    replica.users--;
    if (replica.users > 0) return;
    this.replicas.delete(replica.chatId);
    this.metrics.presenceReplicas.set(this.replicas.size);
    this.replicaListeners.get(replica.chatId)?.();
    this.replicaListeners.delete(replica.chatId);
    replica.stop();
  }

  /** The local replica when this instance has one (no I/O), else undefined. */
  async localReplica(chatId: string): Promise<Replica | undefined> {
    const pending = this.replicas.get(chatId);
    return pending ? pending.catch(() => undefined) : undefined;
  }

  private async startReplica(chatId: string): Promise<Replica> {
    const replica = new Replica(chatId, this.store, this.logger);
    const stops: Unsubscribe[] = [];
    this.replicaListeners.set(chatId, () => stops.forEach((stop) => stop()));
    try {
      // Owned metas change through any instance (setTyping); follow them to lapse typing on time.
      stops.push(
        replica.listen(({ joins }) => {
          for (const meta of joins) this.followOwned(meta);
        }),
      );
      // Sending a message ends its author's typing. The instances that own typing metas clear them when the
      // message goes by, so a send costs no presence round trip of its own. Every owned meta's chat has a replica.
      stops.push(
        await this.bus.subscribe(topics.messages(chatId), (event) => this.clearTypingOf(chatId, event.message.user.id)),
      );
      await replica.start(this.bus);
    } catch (error) {
      this.replicaListeners.get(chatId)?.();
      this.replicaListeners.delete(chatId);
      throw error;
    }
    for (const meta of replica.metas()) this.followOwned(meta);
    return replica;
  }

  private clearTypingOf(chatId: string, userId: string): void {
    for (const owned of this.ownedByChat.get(chatId) ?? []) {
      if (owned.meta.userId !== userId || !owned.meta.typing) continue;
      // One call clears every meta of the author in the chat, wherever it lives, in one DIFF; an owner that
      // calls too late changes nothing and publishes nothing.
      this.store.setTyping(chatId, userId, null, false, 0).catch((error: Error) => {
        this.logger.warn(`clearing typing in chat ${chatId} failed: ${error.message}`);
      });
      return;
    }
  }

  private followOwned(meta: StoredMeta): void {
    const owned = this.owned.get(meta.trackKey);
    if (!owned) return;
    owned.meta = meta;
    clearTimeout(owned.lapseTimer);
    owned.lapseTimer = undefined;
    if (meta.typing) this.scheduleLapse(owned, meta.typingUntil);
  }

  private scheduleLapse(owned: OwnedMeta, at: number): void {
    const trackKey = owned.meta.trackKey;
    owned.lapseTimer = setTimeout(
      () => {
        if (this.owned.get(trackKey) !== owned) return;
        this.store
          .lapse(owned.chatId, trackKey, Date.now())
          .then((result) => {
            // Renewed meanwhile (renewals publish nothing): look again at the new time.
            if (!result.lapsed && result.typingUntil > 0 && this.owned.get(trackKey) === owned) {
              this.scheduleLapse(owned, result.typingUntil);
            }
          })
          .catch((error: Error) => this.logger.warn(`typing lapse failed: ${error.message}`));
      },
      Math.max(0, at - Date.now()),
    );
    owned.lapseTimer.unref();
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    try {
      const held = await this.store.heartbeat(this.instanceId, now + this.config.presence.leaseTtlMs);
      const recovered = this.storeDown;
      this.storeDown = false;
      const lost = !held && this.beaten;
      this.beaten = true;
      if (lost || recovered) {
        this.logger.warn(
          lost
            ? "this instance's lease was gone (reaped, or the store lost it); re-asserting its presence"
            : 'presence store is back; reconciling',
        );
        await this.restore(() => true);
      }
      await this.reapExpired(now);
    } catch (error) {
      if (!this.storeDown) this.logger.warn(`presence heartbeat failed: ${(error as Error).message}`);
      this.storeDown = true;
    }
  }

  private async reapExpired(now: number): Promise<void> {
    for (const instanceId of await this.store.expiredInstances(now)) {
      if (instanceId === this.instanceId) continue;
      const removed = await this.store.reap(instanceId, now, false);
      if (removed >= 0) {
        this.metrics.reapedInstances.inc();
        this.logger.warn(`instance ${instanceId} stopped renewing its lease; removed its ${removed} presence metas`);
      }
    }
  }

  /**
   * After the store lost or may have lost writes in some chats (all, or those `inChat` accepts): makes it agree
   * with what this instance really serves there, lets the replicas re-read, and removes what instances that
   * no longer exist left behind in them. One restoration runs at a time; those asked for meanwhile run next, as
   * one, and one that fails is tried again a second later.
   */
  private restore(inChat: (chatId: string) => boolean): Promise<void> {
    this.restoreQueue.push(inChat);
    this.restoring ??= this.runRestores().finally(() => (this.restoring = null));
    return this.restoring;
  }

  private async runRestores(): Promise<void> {
    while (this.restoreQueue.length && !this.stopped) {
      const filters = this.restoreQueue.splice(0);
      const inChat = (chatId: string) => filters.some((accepts) => accepts(chatId));
      try {
        await this.reconcile(inChat);
      } catch (error) {
        this.logger.warn(`presence reconciliation failed, will retry: ${(error as Error).message}`);
        // The filters themselves, not their union: a union of unions would nest one level per failed try.
        this.restoreQueue.push(...filters);
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
        continue;
      }
      await this.resyncAndSweep(inChat);
    }
  }

  private async resyncAndSweep(inChat: (chatId: string) => boolean): Promise<void> {
    const replicas = (
      await Promise.all(
        [...this.replicas]
          .filter(([chatId]) => inChat(chatId))
          .map(([, pending]) =>
            pending.then(
              async (replica) => (await replica.resync(), replica),
              () => null,
            ),
          ),
      )
    ).filter((replica): replica is Replica => replica !== null);
    await this.removeOrphans(replicas).catch((error: Error) =>
      this.logger.warn(`presence orphan sweep failed: ${error.message}`),
    );
  }

  /**
   * Metas the store has and this instance no longer has (an untrack failed while the store was away) leave;
   * metas it has (the store restarted, was flushed, failed over, or reaped this instance during a partition)
   * join again. Both are no-ops where the store already agrees.
   */
  private async reconcile(inChat: (chatId: string) => boolean): Promise<void> {
    const recorded = await this.store.owned(this.instanceId, inChat);
    const stale = new Map<string, string[]>();
    for (const { chatId, trackKey } of recorded) {
      if (this.owned.has(trackKey)) continue;
      stale.set(chatId, [...(stale.get(chatId) ?? []), trackKey]);
    }
    await Promise.all([...stale].map(([chatId, keys]) => this.store.leave(chatId, this.instanceId, keys)));
    await Promise.all(
      [...this.owned.values()]
        .filter(({ chatId }) => inChat(chatId))
        .map(({ chatId, meta }) => this.store.join(chatId, meta)),
    );
  }

  /**
   * A meta whose instance has no lease at all has no owner left to remove it: its reaper's work was undone (a
   * failover lost it) or never reached this chat. Remove it; instances whose lease merely expired are the
   * reaper's.
   */
  private async removeOrphans(replicas: Replica[]): Promise<void> {
    if (!replicas.length) return;
    const live = await this.store.liveInstances(Date.now());
    for (const replica of replicas) {
      const orphans = new Set<string>();
      for (const meta of replica.metas()) {
        if (meta.instanceId !== this.instanceId && !live.has(meta.instanceId)) orphans.add(meta.instanceId);
      }
      if (!orphans.size) continue;
      const removed = await this.store.reapOrphans(replica.chatId, [...orphans]);
      if (removed)
        this.logger.warn(`removed ${removed} presence metas of vanished instances in chat ${replica.chatId}`);
    }
  }
}
