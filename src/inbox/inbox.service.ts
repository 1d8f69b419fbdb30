import { Injectable, Logger } from '@nestjs/common';
import { ChatEntity } from '../chats/chat.entity';
import { ChatRole } from '../chats/chat-role';
import { ChatsService } from '../chats/chats.service';
import { MembershipWatch } from '../chats/membership-watch';
import { LiveQueue } from '../common/live-queue';
import { SharedEvent } from '../common/shared-event';
import { ConnectionInfo } from '../common/request-context';
import { AppConfig } from '../config/app-config';
import { MessageRecord } from '../messages/message-record';
import { fromEvent, MessagesService } from '../messages/messages.service';
import { ReorderWindow } from '../messages/reorder-window';
import { AffectedTopics, EventBus, Unsubscribe } from '../pubsub/event-bus';
import { InboxSignal, MembershipEvent, topics } from '../pubsub/topics';
import { Viewer } from '../users/token.service';
import { InboxEventModel } from './models/inbox-event.model';

/**
 * What an inbox subscription yields: a summary of its own, or a new message's summary shared by every inbox that
 * lists the chat, with the subscriber's read position, unread count and role as its personal values.
 */
export type InboxDelivery = InboxEventModel | SharedEvent<InboxEventModel>;

/** What arrived for a chat whose state is still being read (see Inbox.update). */
interface Early {
  /** The newest message, or the newest change of it. */
  record?: MessageRecord;
  lastReadSeq: number;
  lastRevision: number;
}

/** One chat in one inbox: what its summary is made of. */
interface Entry {
  chat: ChatEntity;
  lastSeq: number;
  lastReadSeq: number;
  role: ChatRole | null;
  lastMessage: MessageRecord | null;
  unwatch?: Unsubscribe;
}

/**
 * The `inbox` subscriptions of this instance. A chat's new messages reach every local inbox that lists it from
 * one bus subscription per chat (the chat's messages channel, shared with nothing else's bookkeeping), and each
 * message becomes one record for all of them; an inbox adds only its viewer's read position. A user's own
 * signals (a chat entered, a read position moved on any device) come on their user channel, and leaving a chat
 * is MembershipWatch's to notice, also when the event was lost.
 */
@Injectable()
export class InboxService {
  private readonly logger = new Logger(InboxService.name);
  /** Inboxes by the chat they list, and that chat's one bus subscription here. */
  private readonly followers = new Map<string, Followers>();

  constructor(
    private readonly chats: ChatsService,
    private readonly messages: MessagesService,
    private readonly membership: MembershipWatch,
    private readonly bus: EventBus,
    private readonly config: AppConfig,
  ) {}

  /**
   * The viewer's chat list as it changes: first a summary of every chat they are in (so a list read before this
   * subscription was set up is brought up to date), then an event per change.
   */
  async open(viewer: Viewer, connection?: ConnectionInfo): Promise<AsyncIterableIterator<InboxDelivery>> {
    const inbox = new Inbox(this, viewer, new LiveQueue(this.config.ws.maxQueuedEvents, connection, 'inbox'));
    try {
      inbox.stops.push(await this.bus.subscribe(topics.inbox(viewer.id), (signal) => inbox.signal(signal)));
      // Signals and leaves published while the bus was away are lost: read the list again.
      inbox.stops.push(
        this.bus.onReconnect((affected) => {
          if (inbox.missedOn(affected)) this.membership.afterCheck(this.reread, inbox);
        }),
      );
      await this.refresh(inbox);
    } catch (error) {
      inbox.queue.end();
      throw error;
    }
    return inbox.queue;
  }

  /**
   * Makes the inbox list the chats its viewer is in (all, or the one `only` names), as they stand now: chats it
   * did not list yet are followed (before their state is read, so no message falls in between) and told; chats
   * whose state moved are told.
   * @internal for Inbox
   */
  async refresh(inbox: Inbox, only?: string): Promise<void> {
    const memberOf = only ? [only] : (await this.chats.chatsOf(inbox.viewer)).map((chat) => chat.id);
    await Promise.all(
      memberOf.filter((chatId) => !inbox.following.has(chatId)).map((chatId) => this.follow(inbox, chatId)),
    );
    // Read after following: what this read misses, the chat's channel brings.
    const [chats, states, lastMessages] = await Promise.all([
      // Membership is in the read states: a chat without one is not listed.
      this.chats.chatsByIds(memberOf),
      this.chats.readStates(inbox.viewer.id, memberOf),
      this.messages.lastMessages(inbox.viewer.id, memberOf),
    ]);
    const byId = new Map(chats.map((chat) => [chat.id, chat]));
    memberOf.forEach((chatId, i) => {
      const chat = byId.get(chatId);
      const state = states[i];
      // Left between the two reads (or a `joined` signal overtaken by a leave): nothing to list.
      if (!chat || !state) {
        if (!inbox.entries.has(chatId)) this.unfollow(inbox, chatId);
        return;
      }
      this.followers.get(chatId)?.known(chat);
      // The three reads are separate queries: the newest message may be newer than the chat row read first.
      const lastMessage = lastMessages[i];
      inbox.update(chatId, {
        chat,
        lastSeq: Math.max(chat.lastSeq, lastMessage?.seq ?? 0),
        lastReadSeq: state.lastReadSeq,
        role: state.role,
        lastMessage,
      });
    });
  }

  private async follow(inbox: Inbox, chatId: string): Promise<void> {
    let followers = this.followers.get(chatId);
    if (!followers) {
      const created = new Followers();
      created.ready = Promise.allSettled([
        this.bus.subscribe(topics.messages(chatId), (event) =>
          this.membership.afterCheck(created.offer, fromEvent(event)),
        ),
        // An edit or delete changes the list's preview when it is of the chat's newest message.
        this.bus.subscribe(topics.messageChanges(chatId), (event) =>
          this.membership.afterCheck(created.changedMessage, fromEvent(event)),
        ),
        // Leaving is MembershipWatch's to notice; a rename and a new owner change what the list shows.
        this.bus.subscribe(topics.membership(chatId), (event) => {
          if (event.kind === 'renamed') created.renamed(event.roomName);
          for (const follower of created.inboxes) follower.changed(event);
        }),
      ]).then((results) => {
        const stops = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
        const stop: Unsubscribe = () => stops.forEach((unsubscribe) => unsubscribe());
        const failed = results.find((result) => result.status === 'rejected');
        if (!failed) return stop;
        // The bus is away: the next inbox that lists the chat tries again.
        stop();
        if (this.followers.get(chatId) === created) this.followers.delete(chatId);
        throw failed.reason;
      });
      this.followers.set(chatId, (followers = created));
    }
    followers.inboxes.add(inbox);
    inbox.following.add(chatId);
    try {
      await followers.ready;
      // Closed when the chat was unfollowed meanwhile; kept before the watch begins, so an unfollow while it
      // does stops it.
      const watcher = { end: () => inbox.left(chatId), closed: !inbox.following.has(chatId) };
      if (!watcher.closed) inbox.watchers.set(chatId, watcher);
      await this.membership.watch(chatId, inbox.viewer.id, watcher);
    } catch (error) {
      // Not followed after all: a later refresh tries again, and nothing is told without a membership watch.
      this.unfollow(inbox, chatId);
      throw error;
    }
  }

  private readonly reread = (inbox: Inbox): void => {
    this.refresh(inbox).catch((error: Error) => this.logger.warn(`inbox re-read failed: ${error.message}`));
  };

  /** @internal for Inbox */
  unfollow(inbox: Inbox, chatId: string): void {
    inbox.following.delete(chatId);
    const watcher = inbox.watchers.get(chatId);
    if (watcher) {
      watcher.closed = true;
      this.membership.unwatch(chatId, inbox.viewer.id, watcher);
      inbox.watchers.delete(chatId);
    }
    const followers = this.followers.get(chatId);
    if (!followers?.inboxes.delete(inbox) || followers.inboxes.size > 0) return;
    this.followers.delete(chatId);
    followers.stop();
    void followers.ready.then((unsubscribe) => unsubscribe?.()).catch(() => undefined);
  }

  /** @internal for Inbox */
  joined(inbox: Inbox, chatId: string): void {
    this.refresh(inbox, chatId).catch((error: Error) =>
      this.logger.warn(`inbox could not add chat ${chatId}: ${error.message}`),
    );
  }
}

/**
 * The inboxes of this instance that list one chat, and the chat as they show it: a new message's summary is
 * built once for all of them.
 */
/** @internal exported for its spec */
export class Followers {
  readonly inboxes = new Set<Inbox>();
  ready: Promise<Unsubscribe | null> = Promise.resolve(null);
  private chat?: ChatEntity;
  /**
   * New messages in seq order: the bus can bring a chat's publishes out of order (two commits finishing together,
   * or on two instances), and the list is told of each message in the order they were sent.
   */
  private readonly ordered = new ReorderWindow<MessageRecord>((record) => {
    const shared = this.summaryOf(record);
    for (const inbox of this.inboxes) inbox.message(record, shared);
  });

  /** A new message, to every inbox that lists the chat, with the summary they share. */
  readonly offer = (record: MessageRecord): void => this.ordered.offer(record);

  readonly changedMessage = (record: MessageRecord): void => {
    if (this.chat) this.chat = withRevision(this.chat, record.revision);
    // A change of a message held back for order: the message goes on as it now is (changes may come out of order).
    if (this.ordered.replaceHeld(record, (held) => record.revision > held.revision)) return;
    for (const inbox of this.inboxes) inbox.messageChanged(record);
  };

  known(chat: ChatEntity): void {
    this.chat = this.chat ? withRevision(chat, this.chat.lastRevision) : chat;
  }

  stop(): void {
    this.ordered.clear();
  }

  renamed(roomName: string): void {
    if (this.chat) this.chat = { ...this.chat, roomName };
  }

  /** The summary every inbox shares for a new message (null until the chat has been read once). */
  summaryOf(record: MessageRecord): InboxEventModel | null {
    if (!this.chat) return null;
    // The viewer's values are placeholders here: each inbox gives its own (SharedEvent.personal).
    const viewerState = { lastReadSeq: 0, role: null, lastMessage: record };
    return { chatId: record.chatId, member: true, chat: { ...this.chat, lastSeq: record.seq, viewerState } };
  }
}

/** One inbox subscription: the summaries it has told, and what it follows. */
class Inbox {
  readonly entries = new Map<string, Entry>();
  /**
   * What arrived for a followed chat before its state was read: the read may predate it, so it is merged in
   * when the state comes (the newest message, and the highest read position).
   */
  private readonly early = new Map<string, Early>();
  readonly following = new Set<string>();
  /** The membership watch of each followed chat. */
  readonly watchers = new Map<string, { end(): void; closed: boolean }>();
  readonly stops: Unsubscribe[] = [];

  /** Whether a reconnect may have cost this inbox an event: on its own topic, or on a chat it follows. */
  missedOn(affected: AffectedTopics): boolean {
    if (affected(topics.inbox(this.viewer.id))) return true;
    for (const chatId of this.following) {
      if (affected(topics.messages(chatId)) || affected(topics.messageChanges(chatId))) return true;
      if (affected(topics.membership(chatId))) return true;
    }
    return false;
  }

  constructor(
    private readonly owner: InboxService,
    readonly viewer: Viewer,
    readonly queue: LiveQueue<InboxDelivery>,
  ) {
    queue.onEnd(() => {
      for (const stop of this.stops.splice(0)) stop();
      for (const chatId of [...this.following]) owner.unfollow(this, chatId);
    });
  }

  signal(signal: InboxSignal): void {
    if (signal.kind === 'joined') {
      if (!this.entries.has(signal.chatId)) this.owner.joined(this, signal.chatId);
      return;
    }
    const entry = this.entries.get(signal.chatId);
    if (!entry) {
      if (!this.following.has(signal.chatId)) return;
      const early = this.earlyOf(signal.chatId);
      early.lastReadSeq = Math.max(early.lastReadSeq, signal.lastReadSeq);
      return;
    }
    if (signal.lastReadSeq > entry.lastReadSeq) this.tell(signal.chatId, { ...entry, lastReadSeq: signal.lastReadSeq });
  }

  message(record: MessageRecord, shared: InboxEventModel | null): void {
    const entry = this.entries.get(record.chatId);
    const ownSeq = record.user.id === this.viewer.id ? record.seq : 0;
    if (!entry) {
      // Followed, its state still being read: kept, in case the read is older than this message.
      if (!this.following.has(record.chatId)) return;
      const early = this.earlyOf(record.chatId);
      if (record.seq > (early.record?.seq ?? 0)) early.record = record;
      early.lastReadSeq = Math.max(early.lastReadSeq, ownSeq);
      early.lastRevision = Math.max(early.lastRevision, record.revision);
      return;
    }
    const lastReadSeq = Math.max(entry.lastReadSeq, ownSeq);
    if (record.seq <= entry.lastSeq) {
      // Not news to the list (a read got there first, or the bus brought it past the reorder window), but sending
      // it moved the viewer's read position, which that read may predate.
      if (lastReadSeq > entry.lastReadSeq) this.tell(record.chatId, { ...entry, lastReadSeq });
      return;
    }
    // Edited while it was held back for order, it carries its revision.
    const chat = withRevision(entry.chat, record.revision);
    const next = { ...entry, chat, lastSeq: record.seq, lastMessage: record, lastReadSeq };
    const sharedChat = shared?.chat;
    if (!sharedChat || sharedChat.roomName !== chat.roomName || sharedChat.lastRevision !== chat.lastRevision) {
      this.tell(record.chatId, next);
      return;
    }
    this.entries.set(record.chatId, next);
    const { role } = entry;
    const personal = {
      'Chat.lastReadSeq': lastReadSeq,
      'Chat.unreadCount': Math.max(0, record.seq - lastReadSeq),
      'Chat.myRole': role,
    };
    this.queue.offer(new SharedEvent(shared, personal, () => summary(record.chatId, next)));
  }

  /** An edit or delete: news when it is of the message the list shows, and newer than what it shows. */
  messageChanged(record: MessageRecord): void {
    const entry = this.entries.get(record.chatId);
    if (entry) {
      // Every change moves the chat's lastRevision; the list shows it with the next event when this is not one.
      const chat = withRevision(entry.chat, record.revision);
      const shown = entry.lastMessage;
      if (shown?.id === record.id && record.revision > shown.revision) {
        this.tell(record.chatId, { ...entry, chat, lastMessage: record });
      } else if (chat !== entry.chat) {
        this.entries.set(record.chatId, { ...entry, chat });
      }
      return;
    }
    // State still being read: kept, in case the read is older than this change (update() sorts it out).
    if (!this.following.has(record.chatId)) return;
    const early = this.earlyOf(record.chatId);
    early.lastRevision = Math.max(early.lastRevision, record.revision);
    const kept = early.record;
    if (!kept || record.seq > kept.seq || (kept.id === record.id && record.revision > kept.revision)) {
      early.record = record;
    }
  }

  /** A state read from the store: told when it is news (a chat not listed yet, or one that moved). */
  update(chatId: string, read: Entry): void {
    if (!this.following.has(chatId)) return;
    let state = read;
    const early = this.early.get(chatId);
    if (early) {
      this.early.delete(chatId);
      const { record } = early;
      const lastMessage = !record
        ? state.lastMessage
        : record.seq > state.lastSeq
          ? record
          : record.seq === state.lastSeq
            ? laterRevision(state.lastMessage, record)
            : state.lastMessage;
      state = {
        ...state,
        chat: withRevision(state.chat, early.lastRevision),
        lastSeq: Math.max(state.lastSeq, record?.seq ?? 0),
        lastMessage,
        lastReadSeq: Math.max(state.lastReadSeq, early.lastReadSeq),
      };
    }
    const entry = this.entries.get(chatId);
    if (!entry) {
      this.tell(chatId, state);
      return;
    }
    const lastSeq = Math.max(entry.lastSeq, state.lastSeq);
    const lastReadSeq = Math.max(entry.lastReadSeq, state.lastReadSeq);
    const chat = withRevision(state.chat, entry.chat.lastRevision);
    const lastMessage =
      lastSeq > entry.lastSeq
        ? state.lastMessage
        : state.lastSeq === entry.lastSeq
          ? laterRevision(entry.lastMessage, state.lastMessage)
          : entry.lastMessage;
    if (
      lastSeq === entry.lastSeq &&
      lastReadSeq === entry.lastReadSeq &&
      chat.roomName === entry.chat.roomName &&
      chat.lastRevision === entry.chat.lastRevision &&
      lastMessage === entry.lastMessage
    ) {
      return;
    }
    this.tell(chatId, { ...entry, chat, lastSeq, lastReadSeq, lastMessage });
  }

  /** A rename, or a new owner: every member's list shows them (in `memberships`), theirs with its new role. */
  changed(event: MembershipEvent): void {
    const entry = this.entries.get(event.chatId);
    if (!entry) return;
    if (event.kind === 'renamed')
      this.tell(event.chatId, { ...entry, chat: { ...entry.chat, roomName: event.roomName } });
    else if (event.kind === 'owner') {
      this.tell(event.chatId, event.userId === this.viewer.id ? { ...entry, role: ChatRole.OWNER } : entry);
    }
  }

  private earlyOf(chatId: string): Early {
    let early = this.early.get(chatId);
    if (!early) this.early.set(chatId, (early = { lastReadSeq: 0, lastRevision: 0 }));
    return early;
  }

  left(chatId: string): void {
    this.early.delete(chatId);
    if (!this.following.has(chatId)) return;
    this.owner.unfollow(this, chatId);
    this.entries.delete(chatId);
    this.queue.offer({ chatId, member: false, chat: null });
  }

  private tell(chatId: string, entry: Entry): void {
    this.entries.set(chatId, entry);
    this.queue.offer(summary(chatId, entry));
  }
}

/** The chat with `lastRevision` raised to `revision`; the same object when that is not higher. */
function withRevision(chat: ChatEntity, revision: number): ChatEntity {
  return revision > chat.lastRevision ? { ...chat, lastRevision: revision } : chat;
}

/** Of two states of one message, the later revision; `shown` when it is not older. */
function laterRevision(shown: MessageRecord | null, read: MessageRecord | null): MessageRecord | null {
  return read && (!shown || read.revision > shown.revision) ? read : shown;
}

/** The summary of one chat as one viewer's list shows it. */
function summary(chatId: string, { chat, lastSeq, lastReadSeq, role, lastMessage }: Entry): InboxEventModel {
  return { chatId, member: true, chat: { ...chat, lastSeq, viewerState: { lastReadSeq, role, lastMessage } } };
}
