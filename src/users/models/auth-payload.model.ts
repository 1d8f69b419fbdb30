import { Field, ObjectType } from '@nestjs/graphql';
import { UserModel } from './user.model';

@ObjectType('AuthPayload', { description: 'what signUp and signIn return: a token and its account' })
export class AuthPayloadModel {
  @Field({
    description:
      'a JWT that expires (7 days by default): send it as `Authorization: Bearer <token>` over HTTP and as connectionParams.authorization over graphql-ws',
  })
  token!: string;

  @Field(() => UserModel, { description: 'the account the token signs in' })
  user!: UserModel;
}
