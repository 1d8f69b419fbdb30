import { Field, ID, Int, ObjectType } from '@nestjs/graphql';
import { UserModel } from '../../users/models/user.model';

@ObjectType('Message')
export class MessageModel {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  chatId!: string;

  @Field(() => Int, { description: '1, 2, 3, … per chat, in commit order, without gaps' })
  seq!: number;

  @Field()
  content!: string;

  @Field(() => UserModel)
  user!: UserModel;

  @Field(() => String, { nullable: true })
  clientId!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  editedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'set when deleted; content is then the empty string' })
  deletedAt!: Date | null;

  @Field(() => Int, { description: '0 while never edited or deleted; else the chat revision of its newest change' })
  revision!: number;
}
