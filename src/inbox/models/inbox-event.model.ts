import { Field, ID, ObjectType } from '@nestjs/graphql';
import { ChatModel } from '../../chats/models/chat.model';

@ObjectType('InboxEvent', { description: "a change to one of the viewer's chats, as their chat list shows it" })
export class InboxEventModel {
  @Field(() => ID, { description: 'the chat that changed' })
  chatId!: string;

  @Field({ description: 'false once the viewer has left or was removed; chat is then null' })
  member!: boolean;

  @Field(() => ChatModel, {
    nullable: true,
    description:
      "the chat as the viewer's chat list shows it: roomName, lastSeq, lastMessage, lastReadSeq, unreadCount, …",
  })
  chat!: ChatModel | null;
}
