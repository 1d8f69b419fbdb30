import { Field, ID, ObjectType } from '@nestjs/graphql';

@ObjectType('User', { description: 'a person with an account' })
export class UserModel {
  @Field(() => ID, { description: "the user's id" })
  id!: string;

  @Field({ description: 'the name others see' })
  firstName!: string;

  /** The viewer's own email only: resolved by UsersResolver.email. */
  email!: string;

  @Field({ description: 'when the account was created' })
  createdAt!: Date;
}
