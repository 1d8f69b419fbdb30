import { Field, ID, ObjectType } from '@nestjs/graphql';

@ObjectType('User')
export class UserModel {
  @Field(() => ID)
  id!: string;

  @Field()
  firstName!: string;

  @Field()
  email!: string;

  @Field()
  createdAt!: Date;
}
