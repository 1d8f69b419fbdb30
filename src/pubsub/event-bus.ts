import type { Topic } from './topics';

export type Unsubscribe = () => void;

/**
 * Which topics a reconnect concerns: every topic on one Redis node; on a cluster, the topics of the shards whose
 * connection was lost (the rest never missed a thing).
 */
export type AffectedTopics = (topic: Topic<unknown>) => boolean;

/**
 * Carries events between instances (Redis) or within one (in process). Payloads always make a JSON round
 * trip, so both engines deliver the same shapes.
 */
export abstract class EventBus {
  /**
   * Publishes after the caller's write has committed. Never rejects: the write stands whatever the bus does,
   * and consumers recover missed events from the store.
   */
  abstract publish<P>(topic: Topic<P>, payload: P): Promise<void>;
  /** Resolves once the subscription is active, so nothing published afterwards is missed. */
  abstract subscribe<P>(topic: Topic<P>, handler: (payload: P) => void): Promise<Unsubscribe>;
  /**
   * Called after the bus lost a connection and got it back: events published meanwhile on the affected topics
   * may be lost, so listeners re-read what they track there.
   */
  abstract onReconnect(listener: (affected: AffectedTopics) => void): Unsubscribe;
  /** Whether the bus can carry events right now (readiness). */
  abstract isHealthy(): Promise<boolean>;
  abstract close(): Promise<void>;
}
