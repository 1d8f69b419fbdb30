import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';

export type SubscriptionKind = 'messageAdded' | 'presence';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The service's Prometheus metrics, in one registry labelled with the instance id. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly connections = new Gauge({
    name: 'chat_ws_connections',
    help: 'Open graphql-ws connections that passed connection_init',
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'chat_subscriptions_active',
    help: 'Active subscriptions by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly messagesSent = new Counter({
    name: 'chat_messages_sent_total',
    help: 'Messages committed (retries with a known clientId excluded)',
    registers: [this.registry],
  });
  /** Deliveries since the last scrape: a plain number, since one is counted per frame sent. */
  private uncountedDeliveries = 0;
  private readonly deliveries: Counter = new Counter({
    name: 'chat_deliveries_total',
    help: 'Results sent to graphql-ws subscribers (subscription events and operations run over the socket)',
    registers: [this.registry],
    collect: () => {
      this.deliveries.inc(this.uncountedDeliveries);
      this.uncountedDeliveries = 0;
    },
  });
  readonly eventEncodings = new Counter({
    name: 'chat_event_encodings_total',
    help: 'messageAdded and presence events executed and serialized; the fastlane shares one across subscribers with the same selection',
    registers: [this.registry],
  });
  readonly publishToDeliver = new Histogram({
    name: 'chat_publish_to_deliver_seconds',
    help: 'From publish (after commit) to arrival on this instance, once per live message',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly presenceMetas = new Gauge({
    name: 'chat_presence_metas',
    help: 'Presence metas tracked by this instance',
    registers: [this.registry],
  });
  readonly presenceReplicas = new Gauge({
    name: 'chat_presence_replicas',
    help: 'Chats whose presence this instance follows (a replica and a bus subscription each) for its subscribers',
    registers: [this.registry],
  });
  readonly reapedInstances = new Counter({
    name: 'chat_presence_reaped_instances_total',
    help: 'Dead instances whose presence this instance removed',
    registers: [this.registry],
  });
  readonly busReconnects = new Counter({
    name: 'chat_bus_reconnects_total',
    help: 'Times the event bus lost and regained its Redis subscriber connection',
    registers: [this.registry],
  });
  readonly slowConsumers = new Counter({
    name: 'chat_slow_consumers_closed_total',
    help: 'Sockets closed because they stopped reading',
    registers: [this.registry],
  });

  constructor(config: AppConfig) {
    this.registry.setDefaultLabels({ instance_id: config.instanceId });
    collectDefaultMetrics({ register: this.registry });
  }

  /** One result sent to a graphql-ws subscriber. */
  delivered(): void {
    this.uncountedDeliveries++;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
