import { registerEnumType } from '@nestjs/graphql';

export enum ChatRole {
  OWNER = 'OWNER',
  MEMBER = 'MEMBER',
}
registerEnumType(ChatRole, {
  name: 'ChatRole',
  description: 'the creator of a chat is its OWNER (the longest-standing member after the owner leaves)',
});
