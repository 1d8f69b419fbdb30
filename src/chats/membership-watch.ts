import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AffectedTopics, EventBus, Unsubscribe } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { errorMessage } from '../logging/log-errors';
import { ChatsRepository } from './chats.repository';

/** Members looked up per round when everything watched is checked again (each round is a few batched queries). */
const RECHECK_ROUND = 1000;
/**
 * A re-check that failed (the database away) is tried again after `first` ms, then twice as long each time, until
 * `last` ms is the next wait: then deliveries go on unchecked rather than pile up (presence changes, which need no
 * database, go on arriving meanwhile).
 */
const RECHECK_RETRY_MS = { first: 250, last: 8000 };

/** What watches a membership: a subscription's queue, ended when its viewer leaves the chat. */
export interface MembershipWatcher {
  end(): void;
  /** Ended already (before its watch began, say): then there is nothing to watch for. */
  readonly closed: boolean;
}

/** A member's watchers: most members have one subscription to a chat, so a Set is made only for a second. */
type Watchers = MembershipWatcher | Set<MembershipWatcher>;

/** One chat's watched members on this instance, and its one bus subscription to the chat's membership events. */
class WatchedChat {
  readonly members = new Map<string, Watchers>();
  unsubscribe?: Unsubscribe;
  released = false;
  ready!: Promise<void>;
}

/**
 * Enforces membership for as long as a subscription runs, on the instance that serves it. A subscription to a
 * chat watches its viewer's membership and is ended (its `end()` called) when the viewer leaves the chat:
 * - when the leave's event arrives on the bus (one bus subscription per chat, shared by all its watchers);
 * - when the bus lost its connection and got it back, so that events may be lost: every watched membership is
 *   looked up again, in batches, and those that are gone end as a leave ends them. Until that check is done, what
 *   the subscriptions would deliver waits (afterCheck), so nothing reaches a viewer who left meanwhile. A check that
 *   fails is tried again for some seconds (RECHECK_RETRY_MS), the deliveries waiting all the while.
 */
@Injectable()
export class MembershipWatch implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(MembershipWatch.name);
  private readonly chats = new Map<string, WatchedChat>();
  private checking: Promise<void> | null = null;
  private stopReconnect?: Unsubscribe;
  private stopped = false;

  constructor(
    private readonly bus: EventBus,
    private readonly repository: ChatsRepository,
  ) {}

  onModuleInit(): void {
    // Registered before any subscription exists, so on a reconnect the check starts before anything re-reads.
    this.stopReconnect = this.bus.onReconnect((affected) => this.recheck(affected));
  }

  onModuleDestroy(): void {
    this.stopped = true;
    this.stopReconnect?.();
  }

  /**
   * Ends `watcher` once the user is no longer a member of the chat, until `unwatch` with the same arguments.
   * Resolves when leaves are being watched (check membership after that, so a leave in between is not missed).
   * Nothing is made per watcher but its place in the chat's members, so an idle subscription costs little.
   */
  async watch(chatId: string, userId: string, watcher: MembershipWatcher): Promise<void> {
    if (watcher.closed) return;
    const chat = this.chatOf(chatId);
    const watchers = chat.members.get(userId);
    if (!watchers) chat.members.set(userId, watcher);
    else if (watchers instanceof Set) watchers.add(watcher);
    else chat.members.set(userId, new Set([watchers, watcher]));
    try {
      await chat.ready;
    } catch (error) {
      this.unwatch(chatId, userId, watcher);
      throw error;
    }
  }

  /** Stops watching; a watcher not watched (or no longer) is ignored. */
  unwatch(chatId: string, userId: string, watcher: MembershipWatcher): void {
    const chat = this.chats.get(chatId);
    const watchers = chat?.members.get(userId);
    if (!chat || !watchers) return;
    if (watchers === watcher) chat.members.delete(userId);
    else if (!(watchers instanceof Set) || !watchers.delete(watcher)) return;
    else if (watchers.size === 0) chat.members.delete(userId);
    if (chat.members.size > 0) return;
    this.chats.delete(chatId);
    chat.released = true;
    chat.unsubscribe?.();
  }

  /**
   * Runs `deliver(item)` now, or, while memberships are being checked again after a reconnect, once that is done
   * (in the order of the calls), by which time any subscription whose viewer left has ended. `deliver` is made
   * once per feed or subscription, so the usual case costs no closure per event.
   */
  afterCheck<T>(deliver: (item: T) => void, item: T): void {
    if (this.checking === null) deliver(item);
    else void this.checking.then(() => deliver(item));
  }

  private chatOf(chatId: string): WatchedChat {
    let chat = this.chats.get(chatId);
    if (chat) return chat;
    const created = (chat = new WatchedChat());
    this.chats.set(chatId, created);
    created.ready = this.bus
      .subscribe(topics.membership(chatId), (event) => {
        if (event.kind === 'left') this.ended(created, event.userId);
      })
      .then(
        (unsubscribe) => {
          // Every watcher went away while the subscription was being made.
          if (created.released) unsubscribe();
          else created.unsubscribe = unsubscribe;
        },
        (error: unknown) => {
          // The bus is away: the next watcher of the chat tries again.
          if (this.chats.get(chatId) === created) this.chats.delete(chatId);
          created.released = true;
          throw error;
        },
      );
    return chat;
  }

  private ended(chat: WatchedChat, userId: string): void {
    const watchers = chat.members.get(userId);
    if (watchers instanceof Set) for (const watcher of [...watchers]) watcher.end();
    else watchers?.end();
  }

  private recheck(affected: AffectedTopics): void {
    // A reconnect during a check checks again after it: the first may have read before the second loss.
    const check = (this.checking ?? Promise.resolve())
      .then(() => this.checkUntilDone(affected))
      .finally(() => {
        if (this.checking === check) this.checking = null;
      });
    this.checking = check;
  }

  private async checkUntilDone(affected: AffectedTopics): Promise<void> {
    for (let delay = RECHECK_RETRY_MS.first; ; delay *= 2) {
      try {
        await this.checkAll(affected);
        return;
      } catch (error) {
        if (this.stopped || delay >= RECHECK_RETRY_MS.last) {
          this.logger.error(`membership re-check failed, deliveries go on unchecked: ${errorMessage(error)}`);
          return;
        }
        this.logger.warn(`membership re-check failed, deliveries wait; again in ${delay} ms: ${errorMessage(error)}`);
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  /** Looks up again every membership watched in the chats whose leaves may have been missed. */
  private async checkAll(affected: AffectedTopics): Promise<void> {
    const started = Date.now();
    const watched: { chatId: string; userId: string; chat: WatchedChat }[] = [];
    for (const [chatId, chat] of this.chats) {
      if (!affected(topics.membership(chatId))) continue;
      for (const userId of chat.members.keys()) watched.push({ chatId, userId, chat });
    }
    let gone = 0;
    for (let start = 0; start < watched.length; start += RECHECK_ROUND) {
      const round = watched.slice(start, start + RECHECK_ROUND);
      const member = await Promise.all(round.map(({ chatId, userId }) => this.repository.isMember(chatId, userId)));
      round.forEach(({ chat, userId }, i) => {
        if (member[i]) return;
        gone++;
        this.ended(chat, userId);
      });
    }
    this.logger.log(
      `membership re-checked after a bus reconnect: ${watched.length} watched, ${gone} no longer members, ` +
        `${Date.now() - started} ms`,
    );
  }
}
