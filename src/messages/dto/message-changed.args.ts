import { ArgsType, Field, ID, Int } from '@nestjs/graphql';

@ArgsType()
export class MessageChangedArgs {
  @Field(() => ID, { description: 'the chat; members only' })
  chatId!: string;

  @Field(() => Int, {
    nullable: true,
    description: 'first every message whose newest change is above it, once, in revision order; then live changes',
  })
  afterRevision?: number;
}
