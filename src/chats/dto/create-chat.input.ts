import { Field, InputType } from '@nestjs/graphql';

@InputType()
export class CreateChatInput {
  @Field()
  roomName!: string;

  @Field({ nullable: true, defaultValue: false })
  isPrivate?: boolean;
}
