import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AsyncQueue } from '../common/async-queue';
import { BadInputError, ForbiddenError } from '../common/errors';
import { ConnectionInfo, SLOW_CONSUMER_CLOSE_CODE } from '../common/request-context';
import { ChatsService } from '../chats/chats.service';
import { MembershipWatch } from '../chats/membership-watch';
import { MetricsService } from '../metrics/metrics.service';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { MessageEvent, topics } from '../pubsub/topics';
import { Viewer } from '../users/token.service';
import { MessageRecord } from './message-record';
import { fromEvent, MessagesService } from './messages.service';
import { ReorderWindow } from './reorder-window';
import { SeqSequencer, SequencerIo } from './seq-sequencer';

/** How long a chat's feed holds an event that skips ahead, waiting for the ones before it from the bus. */
const REORDER_WINDOW_MS = 25;
/** The most events a feed holds for one gap; past it the streams read the gap from the store at once. */
const MAX_HELD = 100;
const FAILURE_LOG_INTERVAL_MS = 5000;

/** Opens messageAdded streams: live, resumable, gap-free, ended when the subscriber leaves the chat. */
@Injectable()
export class MessageStreamsService {
  private readonly logger = new Logger(MessageStreamsService.name);
  /** One feed per chat with local subscribers: a chat's thousand streams share its two bus subscriptions. */
  private readonly feeds = new Map<string, ChatFeed>();
  /** Store reads in flight, by chat and range: a chat's streams that fell behind together share one query. */
  private readonly reads = new Map<string, Promise<MessageRecord[]>>();
  private catchUpFailures = 0;
  private lastFailureLoggedAt = 0;

  constructor(
    private readonly messages: MessagesService,
    private readonly chats: ChatsService,
    private readonly membership: MembershipWatch,
    private readonly bus: EventBus,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  async open(
    viewer: Viewer,
    chatId: string,
    afterSeq: number | null | undefined,
    connection?: ConnectionInfo,
  ): Promise<AsyncIterableIterator<MessageRecord>> {
    if (afterSeq != null && afterSeq < 0) throw new BadInputError('afterSeq must be 0 or more');
    await this.chats.assertMember(viewer, chatId);

    // Join the feed before reading anything, so no event falls between the read and the subscription.
    const feed = this.feedOf(chatId);
    const stream = new MessageStream(this, feed, viewer.id, connection);
    this.metrics.subscriptions.inc({ kind: 'messageAdded' });
    feed.streams.add(stream);
    try {
      await feed.ready;
      const unwatch = await this.membership.watch(chatId, viewer.id, () => stream.end());
      if (stream.closed) unwatch();
      else stream.unwatch = unwatch;
      // Checked again now that leaves are being watched (a leave in between would otherwise go unseen), in the
      // same query that reads where the stream starts.
      const lastSeq = await this.messages.lastSeqForMember(chatId, viewer.id);
      if (lastSeq === null) throw new ForbiddenError('you are not a member of this chat');
      stream.start(afterSeq ?? lastSeq, afterSeq != null);
    } catch (error) {
      stream.end();
      throw error;
    }
    return stream;
  }

  /** @internal for MessageStream: it has ended (completed, closed, shed, or its viewer left). */
  streamEnded(stream: MessageStream): void {
    this.metrics.subscriptions.dec({ kind: 'messageAdded' });
    stream.feed.streams.delete(stream);
    if (stream.feed.streams.size === 0) this.close(stream.feed);
  }

  private feedOf(chatId: string): ChatFeed {
    let feed = this.feeds.get(chatId);
    if (!feed) {
      feed = new ChatFeed(chatId);
      this.feeds.set(chatId, feed);
      const opened = feed;
      opened.ready = (async () => {
        try {
          opened.unsubscribes.push(
            await this.bus.subscribe(topics.messages(chatId), (event) => {
              const record = this.recordOf(event);
              this.membership.afterCheck(() => opened.offer(record));
            }),
          );
        } catch (error) {
          // The bus is away: this feed is dead, and the next stream for the chat makes a new one.
          this.close(opened);
          throw error;
        }
        // What was missed is read once the memberships are checked again, so no one who left receives it.
        opened.unsubscribes.push(this.bus.onReconnect(() => this.membership.afterCheck(() => opened.resync())));
        // Every stream left while the subscriptions were being made.
        if (opened.closed) opened.release();
      })();
    }
    return feed;
  }

  private close(feed: ChatFeed): void {
    if (this.feeds.get(feed.chatId) === feed) this.feeds.delete(feed.chatId);
    feed.closed = true;
    feed.release();
  }

  /**
   * One record per bus event, however many local subscribers it has: the fastlane then encodes it once per
   * selection, and the latency metric is observed once per event rather than per subscriber.
   */
  private recordOf(event: MessageEvent): MessageRecord {
    this.metrics.publishToDeliver.observe(Math.max(0, Date.now() - event.publishedAt) / 1000);
    return fromEvent(event);
  }

  /** @internal for MessageStream */
  fetchAfter(chatId: string, afterSeq: number, limit: number): Promise<MessageRecord[]> {
    const key = `${chatId}:${afterSeq}:${limit}`;
    let read = this.reads.get(key);
    if (!read) {
      read = this.messages.fetchAfter(chatId, afterSeq, limit).finally(() => this.reads.delete(key));
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

  /** @internal for MessageStream */
  shedSlowConsumer(stream: MessageStream, connection?: ConnectionInfo): void {
    this.logger.warn(`closing a slow consumer (${connection?.id ?? 'no connection'}): its queue reached the cap`);
    stream.end();
    connection?.close(SLOW_CONSUMER_CLOSE_CODE, 'slow consumer: too many undelivered events');
  }
}

/** A chat's bus subscriptions on this instance, and the local streams they feed, in seq order (ReorderWindow). */
class ChatFeed {
  readonly streams = new Set<MessageStream>();
  readonly unsubscribes: Unsubscribe[] = [];
  ready!: Promise<void>;
  closed = false;
  private readonly ordered = new ReorderWindow<MessageRecord>(
    (record) => {
      for (const stream of this.streams) stream.offer(record);
    },
    REORDER_WINDOW_MS,
    MAX_HELD,
  );

  constructor(readonly chatId: string) {}

  offer(record: MessageRecord): void {
    this.ordered.offer(record);
  }

  /** After the bus reconnects: events published meanwhile may be lost, so every stream re-reads the store. */
  resync(): void {
    this.ordered.flush();
    for (const stream of this.streams) stream.resync();
  }

  release(): void {
    this.ordered.clear();
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
  }
}

/**
 * One messageAdded subscription: the queue graphql-ws pulls (it is one) and the sequencer that keeps it gap-free.
 * Events that arrive before the starting seq is known wait in `early`, briefly (one query).
 */
class MessageStream extends AsyncQueue<MessageRecord> implements SequencerIo<MessageRecord> {
  sequencer?: SeqSequencer<MessageRecord>;
  /** Stops watching the viewer's membership (MembershipWatch ends the stream when they leave). */
  unwatch?: () => void;
  private early: MessageRecord[] | null = [];

  constructor(
    private readonly owner: MessageStreamsService,
    readonly feed: ChatFeed,
    readonly viewerId: string,
    private readonly connection: ConnectionInfo | undefined,
  ) {
    super(owner.maxQueuedEvents);
  }

  start(lastDelivered: number, resume: boolean): void {
    this.sequencer = new SeqSequencer(lastDelivered, this);
    if (resume) void this.sequencer.resync();
    const early = this.early ?? [];
    this.early = null;
    for (const record of early) this.sequencer.offer(record);
  }

  offer(record: MessageRecord): void {
    if (this.sequencer) this.sequencer.offer(record);
    else this.early?.push(record);
  }

  resync(): void {
    void this.sequencer?.resync();
  }

  fetchAfter(afterSeq: number, limit: number): Promise<MessageRecord[]> {
    return this.owner.fetchAfter(this.feed.chatId, afterSeq, limit);
  }

  deliver(message: MessageRecord): boolean {
    if (this.push(message)) return true;
    if (!this.closed) this.owner.shedSlowConsumer(this, this.connection);
    return false;
  }

  whenReady(): Promise<void> {
    return this.whenBelow(Math.floor(this.owner.maxQueuedEvents / 2));
  }

  onError(error: unknown): void {
    this.owner.catchUpFailed(this.feed.chatId, error);
  }

  protected override ended(): void {
    this.sequencer?.stop();
    this.unwatch?.();
    this.owner.streamEnded(this);
  }
}
