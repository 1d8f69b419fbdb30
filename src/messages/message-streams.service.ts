import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { LiveQueue } from '../common/live-queue';
import { BadInputError, ForbiddenError } from '../common/errors';
import { ConnectionInfo } from '../common/request-context';
import { ChatsService } from '../chats/chats.service';
import { MembershipWatch } from '../chats/membership-watch';
import { MetricsService } from '../metrics/metrics.service';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { MessageEvent, Topic, topics } from '../pubsub/topics';
import { Viewer } from '../users/token.service';
import { MessageRecord } from './message-record';
import { fromEvent, MessagesService } from './messages.service';
import { ReorderWindow } from './reorder-window';
import { SeqSequencer, Sequenced, SequencerIo } from './seq-sequencer';

const FAILURE_LOG_INTERVAL_MS = 5000;

export type StreamKindName = 'messageAdded' | 'messageChanged';

/**
 * What a chat's stream follows: new messages by seq, or changed messages by revision. Both are gap-free per chat
 * and in commit order, so one machinery serves both: its bus topic, where a message stands in it, and how to read
 * what was missed from the store.
 */
interface StreamKind {
  name: StreamKindName;
  topic(chatId: string): Topic<MessageEvent>;
  positionOf(message: MessageRecord): number;
  fetchAfter(chatId: string, after: number, limit: number): Promise<MessageRecord[]>;
  /** Where the chat stands now for one of its members; null for anyone else. */
  lastFor(chatId: string, userId: string): Promise<number | null>;
}

/** A message at its place in a stream (its seq, or its revision), made once per event and shared. */
interface Positioned extends Sequenced {
  message: MessageRecord;
}

/**
 * Opens messageAdded and messageChanged streams: live, resumable, gap-free, ended when the subscriber leaves
 * the chat.
 */
@Injectable()
export class MessageStreamsService {
  private readonly logger = new Logger(MessageStreamsService.name);
  /** One feed per chat with local subscribers: a chat's thousand streams share its two bus subscriptions. */
  private readonly feeds = new Map<string, ChatFeed>();
  /** Store reads in flight, by chat and range: a chat's streams that fell behind together share one query. */
  private readonly reads = new Map<string, Promise<Positioned[]>>();
  private catchUpFailures = 0;
  private lastFailureLoggedAt = 0;
  private readonly kinds: Record<StreamKindName, StreamKind>;

  constructor(
    private readonly messages: MessagesService,
    private readonly chats: ChatsService,
    private readonly membership: MembershipWatch,
    private readonly bus: EventBus,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.kinds = {
      messageAdded: {
        name: 'messageAdded',
        topic: topics.messages,
        positionOf: (message) => message.seq,
        fetchAfter: (chatId, after, limit) => messages.fetchAfter(chatId, after, limit),
        lastFor: (chatId, userId) => messages.lastSeqForMember(chatId, userId),
      },
      messageChanged: {
        name: 'messageChanged',
        topic: topics.messageChanges,
        positionOf: (message) => message.revision,
        fetchAfter: (chatId, after, limit) => messages.changedAfter(chatId, after, limit),
        lastFor: (chatId, userId) => messages.lastRevisionForMember(chatId, userId),
      },
    };
  }

  /** `after`: the seq (messageAdded) or revision (messageChanged) to resume after; from now on when absent. */
  async open(
    kindName: StreamKindName,
    viewer: Viewer,
    chatId: string,
    after: number | null | undefined,
    connection?: ConnectionInfo,
  ): Promise<AsyncIterableIterator<MessageRecord>> {
    const kind = this.kinds[kindName];
    if (after != null && after < 0) {
      throw new BadInputError(`${kindName === 'messageAdded' ? 'afterSeq' : 'afterRevision'} must be 0 or more`);
    }
    await this.chats.assertMember(viewer, chatId);

    // Join the feed before reading anything, so no event falls between the read and the subscription.
    const feed = this.feedOf(kind, chatId);
    const stream = new MessageStream(this, feed, viewer.id, connection);
    this.metrics.subscriptions.inc({ kind: kind.name });
    feed.streams.add(stream);
    try {
      await feed.ready;
      await this.membership.watch(chatId, viewer.id, stream);
      // Checked again now that leaves are being watched (a leave in between would otherwise go unseen), in the
      // same query that reads where the stream starts.
      const last = await kind.lastFor(chatId, viewer.id);
      if (last === null) throw new ForbiddenError('you are not a member of this chat');
      stream.start(after ?? last, after != null);
    } catch (error) {
      stream.end();
      throw error;
    }
    return stream;
  }

  /** @internal for MessageStream: it has ended (completed, closed, shed, or its viewer left). */
  streamEnded(stream: MessageStream): void {
    this.membership.unwatch(stream.feed.chatId, stream.viewerId, stream);
    this.metrics.subscriptions.dec({ kind: stream.feed.kind.name });
    stream.feed.streams.delete(stream);
    if (stream.feed.streams.size === 0) this.close(stream.feed);
  }

  private feedOf(kind: StreamKind, chatId: string): ChatFeed {
    let feed = this.feeds.get(`${kind.name}:${chatId}`);
    if (!feed) {
      feed = new ChatFeed(chatId, kind);
      this.feeds.set(feed.key, feed);
      const opened = feed;
      opened.ready = (async () => {
        try {
          opened.unsubscribes.push(
            await this.bus.subscribe(kind.topic(chatId), (event) =>
              this.membership.afterCheck(opened.offer, this.positioned(kind, event)),
            ),
          );
        } catch (error) {
          // The bus is away: this feed is dead, and the next stream for the chat makes a new one.
          this.close(opened);
          throw error;
        }
        // What was missed is read once the memberships are checked again, so no one who left receives it.
        opened.unsubscribes.push(
          this.bus.onReconnect((affected) => {
            if (affected(kind.topic(chatId))) this.membership.afterCheck(opened.resync, undefined);
          }),
        );
        // Every stream left while the subscriptions were being made.
        if (opened.closed) opened.release();
      })();
    }
    return feed;
  }

  private close(feed: ChatFeed): void {
    if (this.feeds.get(feed.key) === feed) this.feeds.delete(feed.key);
    feed.closed = true;
    feed.release();
  }

  /**
   * One record per bus event, however many local subscribers it has: the fastlane then encodes it once per
   * selection, and the latency metric is observed once per event rather than per subscriber.
   */
  private positioned(kind: StreamKind, event: MessageEvent): Positioned {
    this.metrics.publishToDeliver.observe(Math.max(0, Date.now() - event.publishedAt) / 1000);
    const message = fromEvent(event);
    return { seq: kind.positionOf(message), message };
  }

  /** @internal for MessageStream */
  fetchAfter(feed: ChatFeed, after: number, limit: number): Promise<Positioned[]> {
    const key = `${feed.key}:${after}:${limit}`;
    let read = this.reads.get(key);
    if (!read) {
      const { kind } = feed;
      read = kind
        .fetchAfter(feed.chatId, after, limit)
        .then((messages) => messages.map((message) => ({ seq: kind.positionOf(message), message })))
        .finally(() => this.reads.delete(key));
      this.reads.set(key, read);
    }
    return read;
  }

  /** @internal for MessageStream */
  get maxQueuedEvents(): number {
    return this.config.ws.maxQueuedEvents;
  }

  /**
   * @internal for MessageStream. Every stream of a chat fails together when the store is away, and each retries
   * on its own: one line per interval says so, rather than one per stream and attempt.
   */
  catchUpFailed(chatId: string, error: unknown): void {
    this.catchUpFailures++;
    const now = Date.now();
    if (now - this.lastFailureLoggedAt < FAILURE_LOG_INTERVAL_MS) return;
    this.logger.warn(
      `messageAdded catch-up failed (chat ${chatId}, ${this.catchUpFailures} failed reads since the last report); ` +
        `retrying: ${(error as Error).message}`,
    );
    this.lastFailureLoggedAt = now;
    this.catchUpFailures = 0;
  }
}

/** A chat's bus subscriptions on this instance, and the local streams they feed, in seq order (ReorderWindow). */
class ChatFeed {
  readonly streams = new Set<MessageStream>();
  readonly unsubscribes: Unsubscribe[] = [];
  ready!: Promise<void>;
  closed = false;
  private readonly ordered = new ReorderWindow<Positioned>((record) => {
    for (const stream of this.streams) stream.arrived(record);
  });

  readonly key: string;

  constructor(
    readonly chatId: string,
    readonly kind: StreamKind,
  ) {
    this.key = `${kind.name}:${chatId}`;
  }

  readonly offer = (item: Positioned): void => {
    this.ordered.offer(item);
  };

  /** After the bus reconnects: events published meanwhile may be lost, so every stream re-reads the store. */
  readonly resync = (): void => {
    this.ordered.flush();
    for (const stream of this.streams) stream.resync();
  };

  release(): void {
    this.ordered.clear();
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
  }
}

/**
 * One messageAdded or messageChanged subscription: the queue graphql-ws pulls (it is one) and the sequencer that
 * keeps it gap-free. Events that arrive before the starting position is known wait in `early`, briefly (one
 * query).
 */
class MessageStream extends LiveQueue<MessageRecord> implements SequencerIo<Positioned> {
  sequencer?: SeqSequencer<Positioned>;
  private early: Positioned[] | null = [];

  constructor(
    private readonly owner: MessageStreamsService,
    readonly feed: ChatFeed,
    /** Whose membership the stream watches (MembershipWatch ends the stream when they leave). */
    readonly viewerId: string,
    connection: ConnectionInfo | undefined,
  ) {
    super(owner.maxQueuedEvents, connection, feed.kind.name);
  }

  start(lastDelivered: number, resume: boolean): void {
    this.sequencer = new SeqSequencer(lastDelivered, this);
    if (resume) void this.sequencer.resync();
    const early = this.early ?? [];
    this.early = null;
    for (const item of early) this.sequencer.offer(item);
  }

  /** A live event from the chat's feed. */
  arrived(item: Positioned): void {
    if (this.sequencer) this.sequencer.offer(item);
    else this.early?.push(item);
  }

  resync(): void {
    void this.sequencer?.resync();
  }

  fetchAfter(after: number, limit: number): Promise<Positioned[]> {
    return this.owner.fetchAfter(this.feed, after, limit);
  }

  deliver(item: Positioned): boolean {
    this.offer(item.message);
    return !this.closed;
  }

  whenReady(): Promise<void> {
    return this.whenBelow(Math.floor(this.owner.maxQueuedEvents / 2));
  }

  onError(error: unknown): void {
    this.owner.catchUpFailed(this.feed.chatId, error);
  }

  protected override ended(): void {
    this.sequencer?.stop();
    this.owner.streamEnded(this);
  }
}
