import { Injectable, Logger } from '@nestjs/common';
import { LiveQueue } from '../common/live-queue';
import { ConnectionInfo } from '../common/request-context';
import { AppConfig } from '../config/app-config';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { Viewer } from '../users/token.service';
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
  /** Moves are handled one after another, so each member's arrive in order. */
  private chain: Promise<void> = Promise.resolve();
  ready!: Promise<void>;
  closed = false;

  constructor(readonly chatId: string) {}

  enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step, step);
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
    let unwatch: Unsubscribe | undefined;
    queue.onEnd(() => {
      unwatch?.();
      feed.queues.delete(queue);
      if (feed.queues.size === 0) this.close(feed);
    });
    try {
      await feed.ready;
      unwatch = await this.membership.watch(chatId, viewer.id, () => queue.end());
      if (queue.closed) unwatch();
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
        feed.unsubscribes.push(
          await this.bus.subscribe(topics.readPositions(chatId), (event) =>
            this.moved(feed, event.userId, event.lastReadSeq),
          ),
          await this.bus.subscribe(topics.messages(chatId), (event) =>
            this.moved(feed, event.message.user.id, event.seq),
          ),
        );
        // Where everyone stands now: later moves are told, the positions before them are not.
        for (const [member] of await this.chats.membershipsOf([chatId]))
          feed.told.set(member.user.id, member.lastReadSeq);
      } catch (error) {
        this.close(feed);
        throw error;
      }
      // Moves published while the bus was away are lost: read the positions again and tell what moved.
      feed.unsubscribes.push(this.bus.onReconnect(() => feed.enqueue(() => this.reread(feed))));
      if (feed.closed) this.release(feed);
    })();
    return feed;
  }

  private moved(feed: ReadFeed, userId: string, lastReadSeq: number): void {
    if (lastReadSeq <= (feed.told.get(userId) ?? -1)) return;
    feed.enqueue(async () => {
      if (feed.closed || lastReadSeq <= (feed.told.get(userId) ?? -1)) return;
      const membership = await this.chats.membership(feed.chatId, userId);
      if (!membership) return;
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
    this.membership.afterCheck(() => {
      for (const queue of feed.queues) queue.offer(event);
    });
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
