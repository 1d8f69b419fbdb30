import { Injectable, Logger } from '@nestjs/common';
import { LiveQueue } from '../common/live-queue';
import { ConnectionInfo } from '../common/request-context';
import { AppConfig } from '../config/app-config';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { Viewer } from '../users/token.service';
import { ChatRole } from './chat-role';
import { MembershipRow } from './chats.repository';
import { ChatsService } from './chats.service';
import { MembershipWatch } from './membership-watch';
import { ChatMemberModel } from './models/chat-member.model';

/**
 * A chat's read positions on this instance: one pair of bus subscriptions however many local subscribers, and
 * each move turned into one ChatMember event that every subscriber gets as the same object (so the fastlane
 * encodes it once per selection). A move comes from markRead or from a message, whose author has read it.
 */
class ReadFeed {
  readonly queues = new Set<LiveQueue<ChatMemberModel>>();
  readonly unsubscribes: Unsubscribe[] = [];
  /** The newest position told per member: positions only move forward, so anything else is old news. */
  readonly told = new Map<string, number>();
  /** The chat's members as ChatMember shows them, kept from the chat's membership events. */
  readonly members = new Map<string, MembershipRow>();
  /** Moves that need a lookup are handled one after another, so each member's arrive in order. */
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;

  /** One move, to every local subscriber. */
  readonly offer = (event: ChatMemberModel): void => {
    for (const queue of this.queues) queue.offer(event);
  };

  /** Nothing waits in the chain: a move can be told at once without overtaking one. */
  get idle(): boolean {
    return this.pending === 0;
  }
  ready!: Promise<void>;
  closed = false;

  constructor(readonly chatId: string) {}

  enqueue(step: () => Promise<void>): void {
    this.pending++;
    // A failed lookup costs that one event, never the chain (nor an unhandled rejection).
    this.chain = this.chain.then(() =>
      step()
        .catch(() => undefined)
        .finally(() => this.pending--),
    );
  }
}

@Injectable()
export class ReadPositionsService {
  private readonly logger = new Logger(ReadPositionsService.name);
  private readonly feeds = new Map<string, ReadFeed>();

  constructor(
    private readonly chats: ChatsService,
    private readonly membership: MembershipWatch,
    private readonly bus: EventBus,
    private readonly config: AppConfig,
  ) {}

  /** Every move of a member's read position in the chat, from now on, for as long as the viewer is a member. */
  async open(
    viewer: Viewer,
    chatId: string,
    connection?: ConnectionInfo,
  ): Promise<AsyncIterableIterator<ChatMemberModel>> {
    await this.chats.assertMember(viewer, chatId);
    const queue = new LiveQueue<ChatMemberModel>(this.config.ws.maxQueuedEvents, connection, 'readPositions');
    const feed = this.feedOf(chatId);
    feed.queues.add(queue);
    queue.onEnd(() => {
      this.membership.unwatch(chatId, viewer.id, queue);
      feed.queues.delete(queue);
      if (feed.queues.size === 0) this.close(feed);
    });
    try {
      await feed.ready;
      await this.membership.watch(chatId, viewer.id, queue);
      // Checked again now that leaves are watched: a leave in between would otherwise go unseen.
      await this.chats.assertMember(viewer, chatId);
    } catch (error) {
      queue.end();
      throw error;
    }
    return queue;
  }

  private feedOf(chatId: string): ReadFeed {
    const known = this.feeds.get(chatId);
    if (known) return known;
    const feed = new ReadFeed(chatId);
    this.feeds.set(chatId, feed);
    feed.ready = (async () => {
      try {
        const subscribed = await Promise.allSettled([
          this.bus.subscribe(topics.readPositions(chatId), (event) =>
            this.moved(feed, event.userId, event.lastReadSeq),
          ),
          this.bus.subscribe(topics.messages(chatId), (event) => this.moved(feed, event.message.user.id, event.seq)),
          this.bus.subscribe(topics.membership(chatId), (event) => {
            if (event.kind === 'left') {
              // One who comes back starts again from nothing read: their moves are news from there.
              feed.members.delete(event.userId);
              feed.told.delete(event.userId);
            }
            if (event.kind !== 'owner') return;
            const member = feed.members.get(event.userId);
            if (member) feed.members.set(event.userId, { ...member, role: ChatRole.OWNER });
          }),
        ]);
        for (const result of subscribed) if (result.status === 'fulfilled') feed.unsubscribes.push(result.value);
        const failed = subscribed.find((result) => result.status === 'rejected');
        if (failed) throw failed.reason;
        // Where everyone stands now: later moves are told, the positions before them are not.
        const [members] = await this.chats.membershipsOf([chatId]);
        for (const member of members) {
          feed.members.set(member.user.id, member);
          feed.told.set(member.user.id, Math.max(member.lastReadSeq, feed.told.get(member.user.id) ?? -1));
        }
      } catch (error) {
        this.close(feed);
        throw error;
      }
      // Moves published while the bus was away are lost: read the positions again and tell what moved.
      feed.unsubscribes.push(
        this.bus.onReconnect((affected) => {
          if (affected(topics.readPositions(chatId))) feed.enqueue(() => this.reread(feed));
        }),
      );
      if (feed.closed) this.release(feed);
    })();
    return feed;
  }

  private moved(feed: ReadFeed, userId: string, lastReadSeq: number): void {
    if (lastReadSeq <= (feed.told.get(userId) ?? -1)) return;
    const known = feed.members.get(userId);
    // A member the feed knows is told at once; one who joined since is looked up first, in the order of moves.
    if (known && feed.idle) {
      this.tell(feed, { ...known, lastReadSeq });
      return;
    }
    feed.enqueue(async () => {
      if (feed.closed || lastReadSeq <= (feed.told.get(userId) ?? -1)) return;
      const membership = feed.members.get(userId) ?? (await this.chats.membership(feed.chatId, userId));
      if (!membership) return;
      feed.members.set(userId, membership);
      this.tell(feed, { ...membership, lastReadSeq });
    });
  }

  private async reread(feed: ReadFeed): Promise<void> {
    if (feed.closed) return;
    const [memberships] = await this.chats.membershipsOf([feed.chatId]).catch((error: Error) => {
      this.logger.warn(`could not re-read read positions of chat ${feed.chatId}: ${error.message}`);
      return [[]];
    });
    for (const membership of memberships) {
      if (membership.lastReadSeq > (feed.told.get(membership.user.id) ?? -1)) this.tell(feed, membership);
    }
  }

  private tell(feed: ReadFeed, member: ChatMemberModel): void {
    feed.told.set(member.user.id, member.lastReadSeq);
    const event: ChatMemberModel = {
      user: member.user,
      role: member.role,
      joinedAt: member.joinedAt,
      lastReadSeq: member.lastReadSeq,
    };
    this.membership.afterCheck(feed.offer, event);
  }

  private close(feed: ReadFeed): void {
    if (this.feeds.get(feed.chatId) === feed) this.feeds.delete(feed.chatId);
    feed.closed = true;
    this.release(feed);
  }

  private release(feed: ReadFeed): void {
    for (const unsubscribe of feed.unsubscribes.splice(0)) unsubscribe();
  }
}
