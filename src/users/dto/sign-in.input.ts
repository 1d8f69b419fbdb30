import { Field, InputType } from '@nestjs/graphql';

@InputType({ description: 'the email and password of an existing account' })
export class SignInInput {
  @Field({ description: 'the email the account signed up with; trimmed and lower-cased, as at sign-up' })
  email!: string;

  @Field({ description: 'the account password; a wrong one and an unknown email give the same UNAUTHENTICATED' })
  password!: string;
}
