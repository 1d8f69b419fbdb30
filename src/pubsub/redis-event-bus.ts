import { Logger } from '@nestjs/common';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { closeRedis, isCluster, openRedis, RedisClient, RedisSettings } from '../redis/redis-connection';
import { AffectedTopics, EventBus, Unsubscribe } from './event-bus';
import type { Topic } from './topics';

const MAX_UNSENT_TOPICS = 10_000;

type Handler = (payload: unknown) => void;

interface Channel {
  handlers: Set<Handler>;
  /** Settles when the server has confirmed the subscription. */
  active: Promise<unknown>;
}

/**
 * Redis engine: a publisher and a subscriber connection (a subscribed connection cannot publish), one Redis
 * channel per topic however many local listeners it has, named by the topic after REDIS_KEY_PREFIX.
 *
 * On a Redis Cluster it uses sharded pub/sub: SPUBLISH goes to the shard that owns the channel's slot only, and
 * the subscriber keeps one connection per master, subscribed to the channels of that master's slots. A chat's
 * topics share a hash tag (topics.ts), so they live on one shard, beside the chat's presence keys.
 *
 * The channel registry is written here rather than taken from graphql-redis-subscriptions, which knows only
 * SUBSCRIBE and 'message': it cannot subscribe a sharded channel or hear an 'smessage'.
 */
export class RedisEventBus extends EventBus {
  private readonly logger = new Logger(RedisEventBus.name);
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly sharded: boolean;
  private readonly channels = new Map<string, Channel>();
  /** UNSUBSCRIBEs not yet answered, so that a new SUBSCRIBE of the same channel goes after them. */
  private readonly leaving = new Map<string, Promise<unknown>>();
  private readonly reconnectListeners = new Set<(affected: AffectedTopics) => void>();
  private subscriberWasReady = false;
  /** Slots whose subscriber connection was lost, until the subscribers are back (cluster). */
  private readonly lostSlots = new Set<number>();
  /**
   * The newest payload per topic whose publish failed while Redis was unreachable, re-sent when the publisher
   * is back. Consumers de-duplicate (messages by seq, presence by version), and the newest event is enough for
   * them to notice what they missed and re-read it. Bounded: past the cap the oldest topics are forgotten.
   */
  private readonly unsent = new Map<string, unknown>();
  private resendTimer?: NodeJS.Timeout;
  private closing = false;
  private readonly channelPrefix: string;

  constructor(redis: RedisSettings, instanceId: string) {
    super();
    this.channelPrefix = redis.keyPrefix;
    // A publish while Redis is away fails at once (and is kept in `unsent`) rather than stalling the request.
    // Publishes made in one tick (a group commit's messages) leave in one write.
    this.publisher = openRedis(redis, instanceId, 'pub', {
      offlineQueue: false,
      maxRetriesPerRequest: 2,
      autoPipelining: true,
    });
    this.subscriber = openRedis(redis, instanceId, 'sub', {
      offlineQueue: true,
      maxRetriesPerRequest: 2,
      shardedSubscribers: true,
    });
    this.sharded = isCluster(this.subscriber);
    this.subscriber.on(this.sharded ? 'smessage' : 'message', (channel: string, message: string) =>
      this.deliver(channel, message),
    );
    if (isCluster(this.subscriber)) this.followShards(this.subscriber);
    else {
      // ioredis re-subscribes by itself on reconnect; what was published in between is gone.
      this.subscriber.on('ready', () => {
        if (this.subscriberWasReady) this.reconnected(() => true);
        this.subscriberWasReady = true;
      });
    }
    this.publisher.on('ready', () => void this.resendUnsent());
  }

  /**
   * A master's subscriber connection ends when the master fails or restarts; ioredis then finds the slots'
   * new master and subscribes there again, and says 'subscribersReady'. Only the topics of those slots may
   * have missed events.
   */
  private followShards(cluster: Cluster): void {
    cluster.on('-node', (_redis: unknown, nodeKey?: string) => {
      if (!nodeKey || this.closing) return; // a command connection, not a subscriber
      cluster.slots.forEach((owners, slot) => {
        if (owners?.[0] === nodeKey) this.lostSlots.add(slot);
      });
    });
    cluster.on('subscribersReady', () => {
      if (!this.lostSlots.size) return;
      const lost = new Set(this.lostSlots);
      this.lostSlots.clear();
      this.reconnected((topic) => lost.has(calculateSlot(this.channelPrefix + topic)));
      void this.resendUnsent();
    });
  }

  private reconnected(affected: AffectedTopics): void {
    this.logger.warn('redis subscriber reconnected; listeners re-read what they may have missed');
    for (const listener of this.reconnectListeners) listener(affected);
  }

  /** Never rejects: an event that cannot go out now is kept and re-sent when Redis is back. */
  async publish<P>(topic: Topic<P>, payload: P): Promise<void> {
    const channel = this.channelPrefix + topic;
    const message = JSON.stringify(payload);
    try {
      if (this.sharded) await (this.publisher as Cluster).spublish(channel, message);
      else await this.publisher.publish(channel, message);
    } catch (error) {
      this.keepUnsent(topic, payload);
      if (!this.closing) this.logger.warn(`publish to ${topic} failed, will re-send: ${(error as Error).message}`);
    }
  }

  private keepUnsent(topic: string, payload: unknown): void {
    this.unsent.delete(topic);
    this.unsent.set(topic, payload);
    if (this.unsent.size > MAX_UNSENT_TOPICS) this.unsent.delete(this.unsent.keys().next().value as string);
    // A cluster's publisher stays 'ready' while one master fails over: try again shortly.
    if (this.sharded && !this.resendTimer && !this.closing) {
      this.resendTimer = setTimeout(() => {
        this.resendTimer = undefined;
        void this.resendUnsent();
      }, 1000);
      this.resendTimer.unref();
    }
  }

  private async resendUnsent(): Promise<void> {
    const pending = [...this.unsent];
    this.unsent.clear();
    for (const [topic, payload] of pending) await this.publish(topic, payload);
  }

  async subscribe<P>(topic: Topic<P>, handler: (payload: P) => void): Promise<Unsubscribe> {
    // Fail fast while Redis is away: the caller's client retries, rather than waiting out ioredis's retries.
    if (this.subscriber.status !== 'ready') throw new Error('event bus is not connected');
    const name = this.channelPrefix + topic;
    let channel = this.channels.get(name);
    if (!channel) {
      const before = this.leaving.get(name) ?? Promise.resolve();
      const entry: Channel = { handlers: new Set(), active: before.then(() => this.command('subscribe', name)) };
      entry.active.catch(() => {
        if (this.channels.get(name) === entry) this.channels.delete(name);
      });
      this.channels.set(name, (channel = entry));
    }
    const own = channel;
    own.handlers.add(handler as Handler);
    try {
      await own.active;
    } catch (error) {
      own.handlers.delete(handler as Handler);
      throw error;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      own.handlers.delete(handler as Handler);
      if (own.handlers.size || this.channels.get(name) !== own) return;
      this.channels.delete(name);
      const left = own.active.then(() => this.command('unsubscribe', name)).catch(() => undefined);
      this.leaving.set(name, left);
      void left.then(() => {
        if (this.leaving.get(name) === left) this.leaving.delete(name);
      });
    };
  }

  private command(kind: 'subscribe' | 'unsubscribe', channel: string): Promise<unknown> {
    if (isCluster(this.subscriber)) {
      return kind === 'subscribe' ? this.subscriber.ssubscribe(channel) : this.subscriber.sunsubscribe(channel);
    }
    return kind === 'subscribe' ? this.subscriber.subscribe(channel) : this.subscriber.unsubscribe(channel);
  }

  private deliver(channel: string, message: string): void {
    const handlers = this.channels.get(channel)?.handlers;
    if (!handlers?.size) return;
    let payload: unknown;
    try {
      payload = JSON.parse(message);
    } catch {
      this.logger.warn(`dropped an event on ${channel} that is not JSON`);
      return;
    }
    for (const handler of handlers) {
      try {
        handler(payload);
      } catch (error) {
        this.logger.error(`a listener of ${channel} failed: ${(error as Error).message}`);
      }
    }
  }

  onReconnect(listener: (affected: AffectedTopics) => void): Unsubscribe {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  async isHealthy(): Promise<boolean> {
    if (this.publisher.status !== 'ready' || this.subscriber.status !== 'ready') return false;
    return (await this.publisher.ping().catch(() => null)) === 'PONG';
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.resendTimer);
    await closeRedis(this.publisher, this.subscriber);
  }
}
