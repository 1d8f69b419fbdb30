import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { EventBus } from './event-bus';
import { LocalEventBus } from './local-event-bus';
import { RedisEventBus } from './redis-event-bus';

/** Owns the event bus: Redis when REDIS_URL is set, in process otherwise. */
@Global()
@Module({
  providers: [
    {
      provide: EventBus,
      inject: [AppConfig, MetricsService],
      useFactory: (config: AppConfig, metrics: MetricsService): EventBus => {
        const bus = config.redis ? new RedisEventBus(config.redis, config.instanceId) : new LocalEventBus();
        bus.onReconnect(() => metrics.busReconnects.inc());
        return bus;
      },
    },
  ],
  exports: [EventBus],
})
export class PubSubModule implements OnApplicationShutdown {
  constructor(@Inject(EventBus) private readonly bus: EventBus) {}

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}
