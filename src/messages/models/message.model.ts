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
}
