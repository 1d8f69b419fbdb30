import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LimitsModule } from '../limits/limits.module';
import { UsersModule } from '../users/users.module';
import { ChatMemberEntity } from './chat-member.entity';
import { ChatEntity } from './chat.entity';
import { ChatsRepository } from './chats.repository';
import { ChatsResolver } from './chats.resolver';
import { ChatsService } from './chats.service';
import { MembershipWatch } from './membership-watch';
import { PublicChatsFeed } from './public-chats-feed';
import { ReadPositionsService } from './read-positions.service';

/** Owns chats and who is a member of which. */
@Module({
  imports: [TypeOrmModule.forFeature([ChatEntity, ChatMemberEntity]), UsersModule, LimitsModule],
  providers: [ChatsRepository, ChatsService, ChatsResolver, MembershipWatch, ReadPositionsService, PublicChatsFeed],
  exports: [ChatsService, MembershipWatch],
})
export class ChatsModule {}
