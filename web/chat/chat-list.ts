/**
 * The viewer's chat list as the page shows it: the `chats` query, then every `inbox` event. Per chat it keeps
 * the highest lastSeq (with its last message) and the highest lastReadSeq, so events that arrive late or twice
 * never move a chat back; newest activity first.
 */
export interface ListedMessage {
  seq: number;
  content: string;
  createdAt: string;
  /** Goes up with each edit or delete: of two states of the same message, the higher is newer. */
  revision: number;
  deletedAt: string | null;
  user: { firstName: string };
}

export interface ListedChat {
  id: string;
  roomName: string;
  isPrivate: boolean;
  createdAt: string;
  lastSeq: number;
  lastReadSeq: number;
  lastMessage: ListedMessage | null;
}

export interface InboxEvent {
  chatId: string;
  member: boolean;
  chat: ListedChat | null;
}

export class ChatList {
  private readonly chats = new Map<string, ListedChat>();
  /** Chats an event said the viewer left: an answer to an older query does not bring them back. */
  private readonly left = new Set<string>();

  /** What the `chats` query answered; events already applied stay where they are newer. */
  load(chats: readonly ListedChat[]): void {
    for (const chat of chats) if (!this.left.has(chat.id)) this.merge(chat);
  }

  /** Returns whether the list changed. */
  apply(event: InboxEvent): boolean {
    if (!event.member || !event.chat) {
      this.left.add(event.chatId);
      return this.chats.delete(event.chatId);
    }
    this.left.delete(event.chatId);
    return this.merge(event.chat);
  }

  /** The viewer read up to `seq` here (the server agrees once markRead answers). */
  read(chatId: string, seq: number): boolean {
    const chat = this.chats.get(chatId);
    if (!chat || seq <= chat.lastReadSeq) return false;
    this.chats.set(chatId, { ...chat, lastReadSeq: Math.min(seq, chat.lastSeq) });
    return true;
  }

  has(chatId: string): boolean {
    return this.chats.has(chatId);
  }

  unread(chat: ListedChat): number {
    return Math.max(0, chat.lastSeq - chat.lastReadSeq);
  }

  /** Newest activity first: the last message's time, or the chat's creation when it has none. */
  sorted(): ListedChat[] {
    const activity = (chat: ListedChat) => chat.lastMessage?.createdAt ?? chat.createdAt;
    return [...this.chats.values()].sort((a, b) => activity(b).localeCompare(activity(a)) || a.id.localeCompare(b.id));
  }

  private merge(next: ListedChat): boolean {
    const known = this.chats.get(next.id);
    if (!known) {
      this.chats.set(next.id, next);
      return true;
    }
    const newer = next.lastSeq > known.lastSeq;
    // The same last message, edited or deleted since.
    const changedMessage =
      next.lastSeq === known.lastSeq &&
      next.lastMessage !== null &&
      next.lastMessage.revision > (known.lastMessage?.revision ?? -1);
    const merged: ListedChat = {
      ...known,
      roomName: next.roomName,
      lastSeq: Math.max(known.lastSeq, next.lastSeq),
      lastMessage: newer || changedMessage ? next.lastMessage : known.lastMessage,
      lastReadSeq: Math.max(known.lastReadSeq, next.lastReadSeq),
    };
    const changed =
      merged.lastSeq !== known.lastSeq ||
      merged.lastReadSeq !== known.lastReadSeq ||
      merged.roomName !== known.roomName ||
      merged.lastMessage !== known.lastMessage;
    this.chats.set(next.id, merged);
    return changed;
  }
}
