import { ArgsType, Field, ID } from '@nestjs/graphql';

@ArgsType()
export class PresenceArgs {
  @Field(() => ID)
  chatId!: string;

  @Field(() => Boolean, { nullable: true, defaultValue: true })
  track?: boolean;
}

@ArgsType()
export class SetTypingArgs {
  @Field(() => ID)
  chatId!: string;

  @Field()
  typing!: boolean;

  @Field(() => ID, { nullable: true })
  ref?: string | null;
}
