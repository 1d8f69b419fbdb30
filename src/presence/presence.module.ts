import { Module } from '@nestjs/common';
import { ChatsModule } from '../chats/chats.module';
import { AppConfig } from '../config/app-config';
import { EventBus } from '../pubsub/event-bus';
import { UsersModule } from '../users/users.module';
import { LocalPresenceStore } from './local-presence-store';
import { PresenceStore } from './presence-store';
import { PresenceTracker } from './presence-tracker.service';
import { ChatPresenceResolver, PresenceMetaResolver, PresenceResolver } from './presence.resolver';
import { PresenceService } from './presence.service';
import { RedisPresenceStore } from './redis-presence-store';
import { LimitsModule } from '../limits/limits.module';

/** Owns presence: who is in each chat on which connections, typing, and its replication across instances. */
@Module({
  imports: [ChatsModule, UsersModule, LimitsModule],
  providers: [
    {
      provide: PresenceStore,
      inject: [AppConfig, EventBus],
      useFactory: (config: AppConfig, bus: EventBus): PresenceStore =>
        config.redis ? new RedisPresenceStore(config.redis, config.instanceId) : new LocalPresenceStore(bus),
    },
    PresenceTracker,
    PresenceService,
    PresenceResolver,
    ChatPresenceResolver,
    PresenceMetaResolver,
  ],
  exports: [PresenceService, PresenceTracker],
})
export class PresenceModule {}
