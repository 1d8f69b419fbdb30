import { Field, InputType } from '@nestjs/graphql';

@InputType()
export class SignUpInput {
  @Field()
  email!: string;

  @Field()
  firstName!: string;

  @Field()
  password!: string;
}
