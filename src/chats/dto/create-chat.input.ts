import { Field, InputType } from '@nestjs/graphql';

@InputType({ description: 'a new chat; its creator becomes its OWNER' })
export class CreateChatInput {
  @Field({ description: 'the name of the chat; 1–100 characters after trimming' })
  roomName!: string;

  @Field({
    nullable: true,
    defaultValue: false,
    description: 'a private chat is entered only by being added (addMember); a public one by anyone (joinChat)',
  })
  isPrivate?: boolean;
}
