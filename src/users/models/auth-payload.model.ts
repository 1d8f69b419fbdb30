import { Field, ObjectType } from '@nestjs/graphql';
import { UserModel } from './user.model';

@ObjectType('AuthPayload')
export class AuthPayloadModel {
  @Field()
  token!: string;

  @Field(() => UserModel)
  user!: UserModel;
}
