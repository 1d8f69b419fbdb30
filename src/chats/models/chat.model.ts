import { Field, ID, Int, ObjectType } from '@nestjs/graphql';

/** Chat's scalar fields; members, messages and presence are resolved by the modules that own them. */
@ObjectType('Chat')
export class ChatModel {
  @Field(() => ID)
  id!: string;

  @Field()
  roomName!: string;

  @Field()
  isPrivate!: boolean;

  @Field()
  createdAt!: Date;

  @Field(() => Int, { description: 'seq of the newest message, 0 when there is none' })
  lastSeq!: number;
}
