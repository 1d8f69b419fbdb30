import { Field, ID, Int, ObjectType } from '@nestjs/graphql';
import { ChatRole } from '../chat-role';

/**
 * What an inbox event already knows of the chat for its one viewer, so the fields below need no query: the
 * viewer's read position and role, and the newest message (a MessageRecord; the messages module reads it).
 */
export interface ViewerChatState {
  lastReadSeq: number;
  role: ChatRole | null;
  lastMessage?: unknown;
}

/** Chat's scalar fields; members, messages and presence are resolved by the modules that own them. */
@ObjectType('Chat', {
  description: 'a chat room: public (anyone joins), private (members add people) or direct (exactly two people)',
})
export class ChatModel {
  @Field(() => ID, { description: "the chat's id" })
  id!: string;

  @Field({ description: '1–100 characters; a direct chat is named after its two people' })
  roomName!: string;

  @Field({ description: 'true: entered only by being added (addMember); false: anyone may joinChat' })
  isPrivate!: boolean;

  @Field({ description: 'made by directChat: private, exactly its two people, never renamed, nobody added or removed' })
  isDirect!: boolean;

  @Field({ description: 'when the chat was created' })
  createdAt!: Date;

  @Field(() => Int, { description: 'seq of the newest message, 0 when there is none' })
  lastSeq!: number;

  @Field(() => Int, { description: 'revision of the newest edit or delete in this chat, 0 when none' })
  lastRevision!: number;

  /** Set on the chats inbox events carry; otherwise the fields that need it load it per request. */
  viewerState?: ViewerChatState;
}
