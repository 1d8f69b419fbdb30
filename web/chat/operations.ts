/** The GraphQL documents the chat page sends, and the shapes it reads back. */
import type { InboxEvent, ListedChat } from './chat-list';
import type { ChatMessage } from './message-log';
import type { PresenceEvent } from './presence-members';
import type { ReadPosition } from './read-receipts';

export interface User {
  id: string;
  firstName: string;
  email: string;
}

export interface ChatSummary {
  id: string;
  roomName: string;
  isPrivate: boolean;
}

export interface MessagePage {
  edges: { node: ChatMessage }[];
  pageInfo: { hasPreviousPage: boolean; startCursor: string | null };
}

const MESSAGE_FIELDS = 'id seq content createdAt editedAt deletedAt revision user { id firstName }';
const PAGE_FIELDS = `edges { node { ${MESSAGE_FIELDS} } } pageInfo { hasPreviousPage startCursor }`;
const CHAT_FIELDS = 'id roomName isPrivate';
/** What the chat list shows of a chat: its name, badge and preview. */
const LISTED_FIELDS = `id roomName isPrivate createdAt lastSeq lastReadSeq
  lastMessage { seq content createdAt revision deletedAt user { firstName } }`;
const POSITION_FIELDS = 'user { id firstName } lastReadSeq';

export const SIGN_IN = `mutation SignIn($input: SignInInput!) { signIn(input: $input) { token user { id firstName email } } }`;
export const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { token user { id firstName email } } }`;
export type AuthResult = { token: string; user: User };

export const ME = 'query Me { me { id firstName email } }';

export const CHATS = `query Chats { chats { ${LISTED_FIELDS} } publicChats { ${CHAT_FIELDS} } }`;
export type ChatsResult = { chats: ListedChat[]; publicChats: ChatSummary[] };

export const INBOX = `subscription Inbox { inbox { chatId member chat { ${LISTED_FIELDS} } } }`;
export type InboxResult = { inbox: InboxEvent };

export const PUBLIC_CHAT_CREATED = `subscription PublicChatCreated { publicChatCreated { ${CHAT_FIELDS} } }`;
export type PublicChatCreatedResult = { publicChatCreated: ChatSummary };

export const MARK_READ = `mutation MarkRead($chatId: ID!, $seq: Int!) { markRead(chatId: $chatId, seq: $seq) }`;

export const READ_POSITIONS = `subscription ReadPositions($chatId: ID!) { readPositions(chatId: $chatId) { ${POSITION_FIELDS} } }`;
export type ReadPositionsResult = { readPositions: ReadPosition };

export const CREATE_CHAT = `mutation CreateChat($input: CreateChatInput!) { createChat(input: $input) { ${CHAT_FIELDS} } }`;
export const JOIN_CHAT = `mutation JoinChat($chatId: ID!) { joinChat(chatId: $chatId) { ${CHAT_FIELDS} } }`;

/** A chat and its newest page of messages. */
export const CHAT = `query Chat($id: ID!, $last: Int!) {
  chat(id: $id) {
    ${CHAT_FIELDS} myRole lastRevision memberships { ${POSITION_FIELDS} } messages(last: $last) { ${PAGE_FIELDS} }
  }
}`;
export type ChatResult = {
  chat: ChatSummary & {
    myRole: 'OWNER' | 'MEMBER' | null;
    lastRevision: number;
    memberships: ReadPosition[];
    messages: MessagePage;
  };
};

export const MESSAGE_CHANGED = `subscription MessageChanged($chatId: ID!, $afterRevision: Int) {
  messageChanged(chatId: $chatId, afterRevision: $afterRevision) { ${MESSAGE_FIELDS} }
}`;
export type MessageChangedResult = { messageChanged: ChatMessage };
export const EDIT_MESSAGE = `mutation EditMessage($id: ID!, $content: String!) { editMessage(id: $id, content: $content) { id revision } }`;
export const DELETE_MESSAGE = `mutation DeleteMessage($id: ID!) { deleteMessage(id: $id) { id revision } }`;

export const OLDER_MESSAGES = `query OlderMessages($id: ID!, $last: Int!, $before: String!) {
  chat(id: $id) { messages(last: $last, before: $before) { ${PAGE_FIELDS} } }
}`;
export type OlderMessagesResult = { chat: { messages: MessagePage } };

export const SEND_MESSAGE = `mutation SendMessage($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }`;

export const SET_TYPING = `mutation SetTyping($chatId: ID!, $typing: Boolean!, $ref: ID) {
  setTyping(chatId: $chatId, typing: $typing, ref: $ref)
}`;

export const MESSAGE_ADDED = `subscription MessageAdded($chatId: ID!, $afterSeq: Int) {
  messageAdded(chatId: $chatId, afterSeq: $afterSeq) { ${MESSAGE_FIELDS} }
}`;
export type MessageAddedResult = { messageAdded: ChatMessage };

const META_FIELDS = 'ref refPrev userId firstName typing';
export const PRESENCE = `subscription Presence($chatId: ID!) {
  presence(chatId: $chatId) {
    kind selfRef
    presences { key metas { ${META_FIELDS} } }
    joins { key metas { ${META_FIELDS} } }
    leaves { key metas { ${META_FIELDS} } }
  }
}`;
export type PresenceResult = { presence: PresenceEvent };

export interface RosterMember {
  user: { id: string; firstName: string };
  role: 'OWNER' | 'MEMBER';
}
export const ROSTER = `query Roster($id: ID!) {
  chat(id: $id) { id roomName isPrivate isDirect myRole memberships { user { id firstName } role } }
}`;
export type RosterResult = {
  chat: ChatSummary & { isDirect: boolean; myRole: 'OWNER' | 'MEMBER' | null; memberships: RosterMember[] };
};

export const ADD_MEMBER_BY_EMAIL = `mutation AddMember($chatId: ID!, $email: String!) {
  addMember(chatId: $chatId, email: $email) { id }
}`;
export const REMOVE_MEMBER = `mutation RemoveMember($chatId: ID!, $userId: ID!) { removeMember(chatId: $chatId, userId: $userId) }`;
export const RENAME_CHAT = `mutation RenameChat($chatId: ID!, $roomName: String!) {
  renameChat(chatId: $chatId, roomName: $roomName) { id roomName }
}`;
export const LEAVE_CHAT = `mutation LeaveChat($chatId: ID!) { leaveChat(chatId: $chatId) }`;
export const DIRECT_CHAT = `mutation DirectChat($userId: ID!) { directChat(userId: $userId) { id } }`;
export type DirectChatResult = { directChat: { id: string } };
