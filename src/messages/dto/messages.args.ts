import { ArgsType, Field, Int } from '@nestjs/graphql';

@ArgsType()
export class MessagesArgs {
  @Field(() => Int, {
    nullable: true,
    description: 'page forward: the page size (0–100), counted from the oldest message or from the after cursor',
  })
  first?: number;

  @Field(() => String, {
    nullable: true,
    description: 'a cursor: only messages newer than it (BAD_USER_INPUT when not a cursor)',
  })
  after?: string;

  @Field(() => Int, {
    nullable: true,
    description: 'page backward: the page size (0–100), counted back from the newest message or from the before cursor',
  })
  last?: number;

  @Field(() => String, {
    nullable: true,
    description: 'a cursor: only messages older than it (BAD_USER_INPUT when not a cursor)',
  })
  before?: string;
}
