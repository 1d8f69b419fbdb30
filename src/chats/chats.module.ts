import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '../users/users.module';
import { ChatMemberEntity } from './chat-member.entity';
import { ChatEntity } from './chat.entity';
import { ChatsRepository } from './chats.repository';
import { ChatsResolver } from './chats.resolver';
import { ChatsService } from './chats.service';
import { MembershipWatch } from './membership-watch';

/** Owns chats and who is a member of which. */
@Module({
  imports: [TypeOrmModule.forFeature([ChatEntity, ChatMemberEntity]), UsersModule],
  providers: [ChatsRepository, ChatsService, ChatsResolver, MembershipWatch],
  exports: [ChatsService, MembershipWatch],
})
export class ChatsModule {}
