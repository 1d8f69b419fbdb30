import { Field, ID, Int, ObjectType } from '@nestjs/graphql';
import { UserModel } from '../../users/models/user.model';

@ObjectType('Message', { description: 'a message in a chat, as it is now (edited or deleted ones included)' })
export class MessageModel {
  @Field(() => ID, { description: "the message's id" })
  id!: string;

  @Field(() => ID, { description: 'the chat it was sent to' })
  chatId!: string;

  @Field(() => Int, { description: '1, 2, 3, … per chat, in commit order, without gaps' })
  seq!: number;

  @Field({ description: '1–4000 characters, trimmed; the empty string once deleted' })
  content!: string;

  @Field(() => UserModel, { description: 'its author' })
  user!: UserModel;

  @Field(() => String, { nullable: true, description: 'the clientId it was sent with, if any' })
  clientId!: string | null;

  @Field({ description: 'when it was sent' })
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'when it was last edited; null when never edited' })
  editedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'set when deleted; content is then the empty string' })
  deletedAt!: Date | null;

  @Field(() => Int, { description: '0 while never edited or deleted; else the chat revision of its newest change' })
  revision!: number;
}
