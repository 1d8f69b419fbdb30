import { ArgsType, Field, ID, Int } from '@nestjs/graphql';

@ArgsType()
export class MessageAddedArgs {
  @Field(() => ID, { description: 'the chat; members only' })
  chatId!: string;

  @Field(() => Int, {
    nullable: true,
    description:
      'resume: first every message with a greater seq, once, in order, then live ones; without it, live messages from now on',
  })
  afterSeq?: number;
}
