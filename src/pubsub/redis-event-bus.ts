import { Logger } from '@nestjs/common';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import Redis from 'ioredis';
import { closeRedis, openRedis, RedisSettings } from '../redis/redis-connection';
import { EventBus, Unsubscribe } from './event-bus';
import type { Topic } from './topics';

/**
 * Redis engine: a publisher and a subscriber connection (a subscribed connection cannot publish),
 * one Redis channel per topic however many local listeners it has, named by the topic after REDIS_KEY_PREFIX.
 */
const MAX_UNSENT_TOPICS = 10_000;

export class RedisEventBus extends EventBus {
  private readonly logger = new Logger(RedisEventBus.name);
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly pubsub: RedisPubSub;
  private readonly reconnectListeners = new Set<() => void>();
  private subscriberWasReady = false;
  /**
   * The newest payload per topic whose publish failed while Redis was unreachable, re-sent when the publisher
   * is back. Consumers de-duplicate (messages by seq, presence by version), and the newest event is enough for
   * them to notice what they missed and re-read it. Bounded: past the cap the oldest topics are forgotten.
   */
  private readonly unsent = new Map<string, unknown>();
  private closing = false;
  private readonly channelPrefix: string;

  constructor(redis: RedisSettings, instanceId: string) {
    super();
    this.channelPrefix = redis.keyPrefix;
    // A publish while Redis is away fails at once (and is kept in `unsent`) rather than stalling the request.
    // Publishes made in one tick (a group commit's messages) leave in one write.
    this.publisher = openRedis(redis, instanceId, 'pub', {
      maxRetriesPerRequest: 2,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
    });
    this.subscriber = openRedis(redis, instanceId, 'sub', { maxRetriesPerRequest: 2 });
    // ioredis re-subscribes by itself on reconnect; what was published in between is gone.
    this.subscriber.on('ready', () => {
      if (this.subscriberWasReady) {
        this.logger.warn('redis subscriber reconnected; listeners re-read what they may have missed');
        for (const listener of this.reconnectListeners) listener();
      }
      this.subscriberWasReady = true;
    });
    this.publisher.on('ready', () => void this.resendUnsent());
    this.pubsub = new RedisPubSub({ publisher: this.publisher, subscriber: this.subscriber });
  }

  /** Never rejects: an event that cannot go out now is kept and re-sent when Redis is back. */
  async publish<P>(topic: Topic<P>, payload: P): Promise<void> {
    try {
      await this.pubsub.publish(this.channelPrefix + topic, payload);
    } catch (error) {
      this.keepUnsent(topic, payload);
      if (!this.closing) this.logger.warn(`publish to ${topic} failed, will re-send: ${(error as Error).message}`);
    }
  }

  private keepUnsent(topic: string, payload: unknown): void {
    this.unsent.delete(topic);
    this.unsent.set(topic, payload);
    if (this.unsent.size > MAX_UNSENT_TOPICS) this.unsent.delete(this.unsent.keys().next().value as string);
  }

  private async resendUnsent(): Promise<void> {
    const pending = [...this.unsent];
    this.unsent.clear();
    for (const [topic, payload] of pending) await this.publish(topic, payload);
  }

  async subscribe<P>(topic: Topic<P>, handler: (payload: P) => void): Promise<Unsubscribe> {
    // Fail fast while Redis is away: the caller's client retries, rather than waiting out ioredis's retries.
    if (this.subscriber.status !== 'ready') throw new Error('event bus is not connected');
    const id = await this.pubsub.subscribe(this.channelPrefix + topic, handler as (payload: unknown) => void);
    return () => this.pubsub.unsubscribe(id);
  }

  onReconnect(listener: () => void): Unsubscribe {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  async isHealthy(): Promise<boolean> {
    if (this.publisher.status !== 'ready' || this.subscriber.status !== 'ready') return false;
    return (await this.publisher.ping().catch(() => null)) === 'PONG';
  }

  async close(): Promise<void> {
    this.closing = true;
    await closeRedis(this.publisher, this.subscriber);
  }
}
