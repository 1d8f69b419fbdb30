import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AsyncQueue } from '../common/async-queue';
import { BadInputError } from '../common/errors';
import { ConnectionInfo, SLOW_CONSUMER_CLOSE_CODE } from '../common/request-context';
import { ChatsService } from '../chats/chats.service';
import { MetricsService } from '../metrics/metrics.service';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { MessageEvent, topics } from '../pubsub/topics';
import { Viewer } from '../users/token.service';
import { MessageRecord } from './message-record';
import { fromEvent, MessagesService } from './messages.service';
import { SeqSequencer } from './seq-sequencer';

/** Opens messageAdded streams: live, resumable, gap-free, ended when the subscriber leaves the chat. */
@Injectable()
export class MessageStreamsService {
  private readonly logger = new Logger(MessageStreamsService.name);
  /**
   * One record per bus event, however many local subscribers it has: the fastlane then encodes it once per
   * selection, and the latency metric is observed once per event rather than per subscriber.
   */
  private readonly records = new WeakMap<MessageEvent, MessageRecord>();

  constructor(
    private readonly messages: MessagesService,
    private readonly chats: ChatsService,
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

    const queue = new AsyncQueue<MessageRecord>(this.config.ws.maxQueuedEvents);
    const cleanups: Unsubscribe[] = [];
    this.metrics.subscriptions.inc({ kind: 'messageAdded' });
    cleanups.push(() => this.metrics.subscriptions.dec({ kind: 'messageAdded' }));
    queue.onEnd(() => cleanups.forEach((cleanup) => cleanup()));

    // Events that arrive before the starting seq is known wait here, briefly (one query).
    const early: MessageEvent[] = [];
    const live: { sequencer?: SeqSequencer<MessageRecord> } = {};
    // Subscribe before reading anything, so no event falls between the read and the subscription.
    try {
      cleanups.push(
        await this.bus.subscribe(topics.messages(chatId), (event) => {
          if (live.sequencer) live.sequencer.offer(this.recordOf(event));
          else early.push(event);
        }),
      );
      cleanups.push(
        await this.bus.subscribe(topics.membership(chatId), (event) => {
          if (event.userId === viewer.id && event.kind === 'left') queue.end();
        }),
      );
      // Checked again now that leaves are being watched: a leave in between would otherwise go unseen.
      await this.chats.assertMember(viewer, chatId);
    } catch (error) {
      queue.end();
      throw error;
    }

    const start = afterSeq ?? (await this.messages.lastSeq(chatId));
    const sequencer = new SeqSequencer<MessageRecord>(start, {
      fetchAfter: (after, limit) => this.messages.fetchAfter(chatId, after, limit),
      deliver: (message) => {
        if (queue.push(message)) return true;
        if (!queue.closed) this.shedSlowConsumer(queue, connection);
        return false;
      },
      whenReady: () => queue.whenBelow(Math.floor(this.config.ws.maxQueuedEvents / 2)),
      onError: (error) => {
        this.logger.error(`messageAdded catch-up failed for chat ${chatId}`, error as Error);
        queue.end();
      },
    });
    live.sequencer = sequencer;
    cleanups.push(() => sequencer.stop());
    cleanups.push(this.bus.onReconnect(() => void sequencer.resync()));
    if (afterSeq != null) void sequencer.resync();
    for (const event of early.splice(0)) sequencer.offer(this.recordOf(event));
    return queue;
  }

  private recordOf(event: MessageEvent): MessageRecord {
    let record = this.records.get(event);
    if (!record) {
      this.metrics.publishToDeliver.observe(Math.max(0, Date.now() - event.publishedAt) / 1000);
      record = fromEvent(event);
      this.records.set(event, record);
    }
    return record;
  }

  private shedSlowConsumer(queue: AsyncQueue<MessageRecord>, connection?: ConnectionInfo): void {
    this.logger.warn(`closing a slow consumer (${connection?.id ?? 'no connection'}): its queue reached the cap`);
    queue.end();
    connection?.close(SLOW_CONSUMER_CLOSE_CODE, 'slow consumer: too many undelivered events');
  }
}
