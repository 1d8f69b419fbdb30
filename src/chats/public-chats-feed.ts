import { Injectable } from '@nestjs/common';
import { LiveQueue } from '../common/live-queue';
import { ConnectionInfo } from '../common/request-context';
import { AppConfig } from '../config/app-config';
import { EventBus, Unsubscribe } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { ChatModel } from './models/chat.model';

/**
 * Public chats as they are created, for the lists of chats to join: one bus subscription per instance while
 * anyone listens. Each subscriber's events are executed for that subscriber: what a chat shows depends on who
 * asks (myRole, members), so they are not shared encodings.
 */
@Injectable()
export class PublicChatsFeed {
  private readonly queues = new Set<LiveQueue<ChatModel>>();
  private subscription?: Promise<Unsubscribe>;

  constructor(
    private readonly bus: EventBus,
    private readonly config: AppConfig,
  ) {}

  async open(connection?: ConnectionInfo): Promise<AsyncIterableIterator<ChatModel>> {
    const queue = new LiveQueue<ChatModel>(this.config.ws.maxQueuedEvents, connection, 'publicChatCreated');
    this.queues.add(queue);
    queue.onEnd(() => {
      this.queues.delete(queue);
      if (this.queues.size > 0 || !this.subscription) return;
      const stopping = this.subscription;
      this.subscription = undefined;
      void stopping.then((unsubscribe) => unsubscribe()).catch(() => undefined);
    });
    this.subscription ??= this.bus.subscribe(topics.publicChats(), (event) => {
      const chat: ChatModel = {
        id: event.id,
        roomName: event.roomName,
        isPrivate: false,
        isDirect: false,
        lastRevision: 0,
        createdAt: new Date(event.createdAt),
        lastSeq: 0,
      };
      for (const listener of this.queues) listener.offer(chat);
    });
    try {
      await this.subscription;
    } catch (error) {
      this.subscription = undefined;
      queue.end();
      throw error;
    }
    return queue;
  }
}
