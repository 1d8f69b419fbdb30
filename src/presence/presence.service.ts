import { Inject, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { LiveQueue } from '../common/live-queue';
import { BadInputError, ConflictError, NotFoundError } from '../common/errors';
import { ConnectionInfo } from '../common/request-context';
import { ChatsService } from '../chats/chats.service';
import { MembershipWatch } from '../chats/membership-watch';
import { MetricsService } from '../metrics/metrics.service';
import { SharedEvent } from '../common/shared-event';
import { Viewer } from '../users/token.service';
import { UsersService } from '../users/users.service';
import { groupByUser, PresenceGroup, StoredMeta } from './presence-meta';
import { PresenceChange } from './presence-state';
import { PresenceStore } from './presence-store';
import { PresenceTracker } from './presence-tracker.service';

export interface PresenceEventPayload {
  kind: 'STATE' | 'DIFF';
  presences: PresenceGroup[];
  joins: PresenceGroup[];
  leaves: PresenceGroup[];
  selfRef: string | null;
}

/** What a presence subscription yields: STATE is its own; a DIFF is one change shared by every subscriber. */
export type PresenceDelivery = PresenceEventPayload | SharedEvent<PresenceEventPayload>;

/** Presence rules: who may see and change it, typing, and the presence subscription. */
@Injectable()
export class PresenceService {
  /** Each replica change as a DIFF, built once for all of its local subscribers (the replica hands each the same). */
  private readonly diffs = new WeakMap<PresenceChange, PresenceEventPayload>();

  constructor(
    private readonly tracker: PresenceTracker,
    @Inject(PresenceStore) private readonly store: PresenceStore,
    private readonly chats: ChatsService,
    private readonly membership: MembershipWatch,
    private readonly users: UsersService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** Who is here now, from this instance's replica when it has one. */
  async read(viewer: Viewer, chatId: string): Promise<PresenceGroup[]> {
    await this.chats.assertMember(viewer, chatId);
    const replica = await this.tracker.localReplica(chatId);
    return groupByUser(replica ? replica.metas() : (await this.store.snapshot(chatId)).metas);
  }

  async setTyping(viewer: Viewer, chatId: string, typing: boolean, ref: string | null | undefined): Promise<boolean> {
    if (ref != null && (ref.length < 1 || ref.length > 100)) throw new BadInputError('ref must be 1-100 characters');
    await this.chats.assertMember(viewer, chatId);
    const until = typing ? Date.now() + this.config.presence.typingTimeoutMs : 0;
    const result = await this.store.setTyping(chatId, viewer.id, ref ?? null, typing, until);
    return result.changed > 0;
  }

  /**
   * The presence subscription: STATE (including this connection's own meta when it tracks), then DIFFs,
   * until the subscription ends, the socket closes or the viewer leaves the chat; its meta leaves then.
   */
  async open(
    viewer: Viewer,
    chatId: string,
    track: boolean,
    connection?: ConnectionInfo,
  ): Promise<AsyncIterableIterator<PresenceDelivery>> {
    await this.chats.assertMember(viewer, chatId);
    const queue = new LiveQueue<PresenceDelivery>(this.config.ws.maxQueuedEvents, connection, 'presence');
    this.metrics.subscriptions.inc({ kind: 'presence' });
    // Undone in reverse when the subscription ends; one added after it has ended (a leave while it was being
    // set up) is undone at once, so no meta or replica outlives it.
    const cleanups: (() => void | Promise<void>)[] = [];
    // Each on its own: one that throws does not keep the others from running.
    const undo = (cleanup: () => void | Promise<void>) =>
      void Promise.resolve()
        .then(cleanup)
        .catch(() => undefined);
    const onEnd = (cleanup: () => void | Promise<void>) => (queue.closed ? undo(cleanup) : cleanups.push(cleanup));
    queue.onEnd(() => cleanups.splice(0).reverse().forEach(undo));
    onEnd(() => this.metrics.subscriptions.dec({ kind: 'presence' }));
    const offer = (event: PresenceDelivery) => queue.offer(event);
    const push = (event: PresenceDelivery) => this.membership.afterCheck(offer, event);

    try {
      // Before the watch: a leave while it is being set up ends the queue, and this cleanup must run then too.
      onEnd(() => this.membership.unwatch(chatId, viewer.id, queue));
      await this.membership.watch(chatId, viewer.id, queue);
      // Checked again now that leaves are watched: a leave in between would otherwise go unseen.
      await this.chats.assertMember(viewer, chatId);

      const replica = await this.tracker.acquire(chatId);
      onEnd(() => this.tracker.release(replica));
      // Ended meanwhile (the viewer left): nothing is tracked for it.
      if (queue.closed) return queue;

      let selfRef: string | null = null;
      if (track) {
        const meta = await this.newMeta(viewer);
        if (queue.closed) return queue;
        // Counted and claimed in one tick (track() records the meta before it awaits), so concurrent
        // subscriptions on this instance cannot all slip under the cap.
        if (this.tracker.metasOf(replica, viewer.id) >= this.config.presence.maxMetasPerUser) {
          throw new ConflictError(
            `at most ${this.config.presence.maxMetasPerUser} tracked connections per user in a chat`,
          );
        }
        selfRef = meta.trackKey;
        const tracked = this.tracker.track(chatId, meta);
        // Undone after it is done: an untrack that overtook the track would leave the meta behind.
        onEnd(async () => {
          await tracked.catch(() => undefined);
          await this.tracker.untrack(chatId, meta.trackKey);
        });
        await replica.reach(await tracked);
      }
      if (queue.closed) return queue;
      // STATE and the listener start in the same tick, so every later change arrives as a DIFF, once.
      push({ kind: 'STATE', presences: groupByUser(replica.metas()), joins: [], leaves: [], selfRef });
      onEnd(
        replica.listen((change) => {
          const diff = this.diffOf(change);
          push(new SharedEvent(diff, { 'PresenceEvent.selfRef': selfRef }, () => ({ ...diff, selfRef })));
        }),
      );
      return queue;
    } catch (error) {
      queue.end();
      throw error;
    }
  }

  private diffOf(change: PresenceChange): PresenceEventPayload {
    let diff = this.diffs.get(change);
    if (!diff) {
      const { joins, leaves } = change;
      diff = { kind: 'DIFF', presences: [], joins: groupByUser(joins), leaves: groupByUser(leaves), selfRef: null };
      this.diffs.set(change, diff);
    }
    return diff;
  }

  private async newMeta(viewer: Viewer): Promise<StoredMeta> {
    const user = await this.users.getById(viewer.id);
    if (!user) throw new NotFoundError('user not found');
    const trackKey = this.tracker.newTrackKey();
    return {
      trackKey,
      ref: trackKey,
      refPrev: null,
      userId: user.id,
      firstName: user.firstName,
      email: user.email,
      typing: false,
      typingUntil: 0,
      onlineAt: new Date().toISOString(),
      instanceId: this.tracker.instanceId,
    };
  }
}
