import { registerEnumType } from '@nestjs/graphql';

export enum ChatRole {
  OWNER = 'OWNER',
  MEMBER = 'MEMBER',
}
registerEnumType(ChatRole, {
  name: 'ChatRole',
  description: 'the creator of a chat is its OWNER (the longest-standing member after the owner leaves)',
  valuesMap: {
    OWNER: { description: "renames the chat, removes members and deletes anyone's messages; at most one per chat" },
    MEMBER: { description: 'everyone else, and both people of a direct chat' },
  },
});
