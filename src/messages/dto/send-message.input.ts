import { Field, ID, InputType } from '@nestjs/graphql';

@InputType({ description: 'a message to send' })
export class SendMessageInput {
  @Field(() => ID, { description: 'the chat to send to; members only' })
  chatId!: string;

  @Field({ description: '1–4000 characters (code points) after trimming, with something visible in it' })
  content!: string;

  @Field(() => String, {
    nullable: true,
    description: 'a client-chosen id; a retry with the same clientId returns the first message and broadcasts nothing',
  })
  clientId?: string | null;
}
