import { Field, ID, ObjectType } from '@nestjs/graphql';

@ObjectType('User')
export class UserModel {
  @Field(() => ID)
  id!: string;

  @Field()
  firstName!: string;

  /** The viewer's own email only: resolved by UsersResolver.email. */
  email!: string;

  @Field()
  createdAt!: Date;
}
