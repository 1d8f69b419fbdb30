import { Logger } from '@nestjs/common';
import { PubSub } from 'graphql-subscriptions';
import { EventBus, Unsubscribe } from './event-bus';
import type { Topic } from './topics';

/** The single-instance engine, used when REDIS_URL is unset. */
export class LocalEventBus extends EventBus {
  private readonly logger = new Logger(LocalEventBus.name);
  private readonly pubsub = new PubSub();

  async publish<P>(topic: Topic<P>, payload: P): Promise<void> {
    try {
      // Same JSON round trip as Redis, so dates and shapes behave identically in both modes.
      await this.pubsub.publish(topic, JSON.parse(JSON.stringify(payload)) as P);
    } catch (error) {
      // Listeners run inside this call; one that throws must not make the publish reject (see EventBus).
      this.logger.error(`a listener of ${topic} failed: ${(error as Error).message}`);
    }
  }

  async subscribe<P>(topic: Topic<P>, handler: (payload: P) => void): Promise<Unsubscribe> {
    const id = await this.pubsub.subscribe(topic, handler as (payload: unknown) => void);
    return () => this.pubsub.unsubscribe(id);
  }

  onReconnect(): Unsubscribe {
    return () => undefined;
  }

  async isHealthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}
