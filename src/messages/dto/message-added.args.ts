import { ArgsType, Field, ID, Int } from '@nestjs/graphql';

@ArgsType()
export class MessageAddedArgs {
  @Field(() => ID)
  chatId!: string;

  @Field(() => Int, { nullable: true })
  afterSeq?: number;
}
