import type { PresenceDiff } from '../presence/presence-meta';

/**
 * The typed map of bus topics. A topic is scoped by chat id or user id (one channel per chat or user, never one
 * global topic with a filter), and its type names the payload, so a publish with the wrong payload does not compile.
 * The id is a Redis Cluster hash tag: a chat's topics and its presence keys share one slot, hence one shard.
 */
export type Topic<Payload> = string & { readonly __payload?: Payload };

/** A message as it travels on the bus: JSON, so dates are ISO strings. */
export interface MessageEvent {
  chatId: string;
  seq: number;
  /** Date.now() at publish, for publish-to-deliver latency. */
  publishedAt: number;
  message: {
    id: string;
    chatId: string;
    seq: number;
    content: string;
    clientId: string | null;
    createdAt: string;
    editedAt: string | null;
    deletedAt: string | null;
    revision: number;
    user: { id: string; firstName: string; email: string; createdAt: string };
  };
}

/**
 * A change to a chat as its members see it: someone left or was removed (their subscriptions to it end), became
 * its owner, or the chat was renamed.
 */
export type MembershipEvent =
  | { chatId: string; kind: 'left'; userId: string }
  | { chatId: string; kind: 'owner'; userId: string }
  | { chatId: string; kind: 'renamed'; roomName: string };

/** A member's read position moved (markRead; sending moves the sender's too, carried by the message itself). */
export interface ReadPositionEvent {
  chatId: string;
  userId: string;
  lastReadSeq: number;
}

/** What a user's inbox follows besides their chats' messages: chats they enter, and their own reading. */
export type InboxSignal = { kind: 'joined'; chatId: string } | { kind: 'read'; chatId: string; lastReadSeq: number };

/** A public chat was created (one channel for the deployment: these are rare). */
export interface PublicChatEvent {
  id: string;
  roomName: string;
  createdAt: string;
}

export const topics = {
  presence: (chatId: string): Topic<PresenceDiff> => `chat.{${chatId}}.presence`,
  messages: (chatId: string): Topic<MessageEvent> => `chat.{${chatId}}.messages`,
  /** Edits and deletes, each carrying the message as it now is (with its revision). */
  messageChanges: (chatId: string): Topic<MessageEvent> => `chat.{${chatId}}.changes`,
  membership: (chatId: string): Topic<MembershipEvent> => `chat.{${chatId}}.membership`,
  readPositions: (chatId: string): Topic<ReadPositionEvent> => `chat.{${chatId}}.reads`,
  inbox: (userId: string): Topic<InboxSignal> => `user.{${userId}}.inbox`,
  publicChats: (): Topic<PublicChatEvent> => 'chats.public',
};
