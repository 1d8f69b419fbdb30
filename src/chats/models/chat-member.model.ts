import { Field, Int, ObjectType } from '@nestjs/graphql';
import { UserModel } from '../../users/models/user.model';
import { ChatRole } from '../chat-role';

@ObjectType('ChatMember', { description: "a member of a chat: their role, since when, and how far they've read" })
export class ChatMemberModel {
  @Field(() => UserModel, { description: 'the member' })
  user!: UserModel;

  @Field(() => ChatRole, { description: 'OWNER or MEMBER' })
  role!: ChatRole;

  @Field({ description: 'when they joined or were added' })
  joinedAt!: Date;

  @Field(() => Int, { description: 'seq of the newest message this member has read, 0 when none' })
  lastReadSeq!: number;
}
