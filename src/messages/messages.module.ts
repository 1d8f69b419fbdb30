import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ChatsModule } from '../chats/chats.module';
import { MessageEntity } from './message.entity';
import { MessageStreamsService } from './message-streams.service';
import { MessagesRepository } from './messages.repository';
import { ChatMessagesResolver, MessagesResolver } from './messages.resolver';
import { MessagesService } from './messages.service';
import { LimitsModule } from '../limits/limits.module';

/** Owns messages: sending, history, and the live messageAdded stream with its resume. */
@Module({
  imports: [TypeOrmModule.forFeature([MessageEntity]), ChatsModule, LimitsModule],
  providers: [MessagesRepository, MessagesService, MessageStreamsService, MessagesResolver, ChatMessagesResolver],
  exports: [MessagesService],
})
export class MessagesModule {}
