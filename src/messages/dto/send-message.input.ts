import { Field, ID, InputType } from '@nestjs/graphql';

@InputType()
export class SendMessageInput {
  @Field(() => ID)
  chatId!: string;

  @Field()
  content!: string;

  @Field(() => String, {
    nullable: true,
    description: 'a client-chosen id; a retry with the same clientId returns the first message and broadcasts nothing',
  })
  clientId?: string | null;
}
