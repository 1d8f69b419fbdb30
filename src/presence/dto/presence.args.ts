import { ArgsType, Field, ID } from '@nestjs/graphql';

@ArgsType()
export class PresenceArgs {
  @Field(() => ID, { description: 'the chat; members only' })
  chatId!: string;

  @Field(() => Boolean, {
    nullable: true,
    defaultValue: true,
    description:
      'true: this connection is present while the subscription runs (one meta, its ref in selfRef; CONFLICT past 20 per user in a chat); false: only watch',
  })
  track?: boolean;
}

@ArgsType()
export class SetTypingArgs {
  @Field(() => ID, { description: 'the chat; members only' })
  chatId!: string;

  @Field({
    description: 'true lapses back to false after 5 s (by default) unless set again; sending a message clears it',
  })
  typing!: boolean;

  @Field(() => ID, {
    nullable: true,
    description:
      "change only this meta (a subscription's selfRef, or a meta's current ref); without it, all the caller's metas in the chat",
  })
  ref?: string | null;
}
