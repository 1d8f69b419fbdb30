import { Field, InputType } from '@nestjs/graphql';

@InputType({ description: 'a new account' })
export class SignUpInput {
  @Field({ description: 'a valid address, trimmed and lower-cased; unique (CONFLICT when already registered)' })
  email!: string;

  @Field({ description: 'the name others see; 1–100 characters after trimming' })
  firstName!: string;

  @Field({ description: '8–200 characters; stored only as a salted argon2id hash' })
  password!: string;
}
