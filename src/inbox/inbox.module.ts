import { Module } from '@nestjs/common';
import { ChatsModule } from '../chats/chats.module';
import { MessagesModule } from '../messages/messages.module';
import { InboxResolver } from './inbox.resolver';
import { InboxService } from './inbox.service';

/** Owns the inbox: each user's chat list, live, across their devices and every instance. */
@Module({
  imports: [ChatsModule, MessagesModule],
  providers: [InboxService, InboxResolver],
})
export class InboxModule {}
