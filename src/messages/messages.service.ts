import { Injectable } from '@nestjs/common';
import { ConflictError, ForbiddenError, NotFoundError } from '../common/errors';
import { ChatRole } from '../chats/chat-role';
import { isUuid } from '../common/uuid';
import { requireText } from '../common/text';
import { ChatsService } from '../chats/chats.service';
import { MetricsService } from '../metrics/metrics.service';
import { EventBus } from '../pubsub/event-bus';
import { MessageEvent, topics } from '../pubsub/topics';
import { Viewer } from '../users/token.service';
import { encodeCursor } from './cursor';
import { MessagesArgs } from './dto/messages.args';
import { SendMessageInput } from './dto/send-message.input';
import { MessageRecord } from './message-record';
import { toPageRequest } from './message-page';
import { MessagesRepository } from './messages.repository';

export interface MessagePage {
  edges: { cursor: string; node: MessageRecord }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** Sending and reading messages. */
@Injectable()
export class MessagesService {
  constructor(
    private readonly messages: MessagesRepository,
    private readonly chats: ChatsService,
    private readonly bus: EventBus,
    private readonly metrics: MetricsService,
  ) {}

  /** Commits the message, then publishes it; a retry with a known clientId returns the original silently. */
  async send(viewer: Viewer, input: SendMessageInput): Promise<MessageRecord> {
    const content = requireText('content', input.content, { min: 1, max: 4000 });
    const clientId =
      input.clientId == null ? null : requireText('clientId', input.clientId, { min: 1, max: 100, trim: false });
    const insert = () => this.messages.insert(input.chatId, viewer.id, content, clientId);
    // The insert checks membership itself; only a refusal asks why (NOT_FOUND or FORBIDDEN, thrown here). A
    // member who joined in between passes the check, and the insert is tried once more.
    const inserted =
      (isUuid(input.chatId) ? await insert() : null) ??
      (await this.chats.assertMember(viewer, input.chatId).then(insert));
    if (!inserted) throw new ForbiddenError('you are not a member of this chat');
    const { message, duplicate } = inserted;
    if (!duplicate) {
      this.metrics.messagesSent.inc();
      // Not awaited: the bus never rejects (what it cannot send now it re-sends), publishes leave in the order of
      // these calls, and the sender's answer need not wait for Redis to acknowledge (S5: 0.479× → 0.501×).
      void this.bus.publish(topics.messages(message.chatId), toEvent(message));
    }
    return message;
  }

  async page(viewer: Viewer, chatId: string, args: MessagesArgs): Promise<MessagePage> {
    const request = toPageRequest(args);
    await this.chats.assertMember(viewer, chatId);
    const rows =
      request.direction === 'forward'
        ? await this.messages.forward(chatId, request.afterSeq ?? 0, request.size + 1, request.beforeSeq)
        : (await this.messages.backward(chatId, request.beforeSeq, request.size + 1, request.afterSeq)).reverse();
    // One row past the page tells whether the range goes on; drop it from the far end.
    const page =
      request.size === 0
        ? []
        : request.direction === 'forward'
          ? rows.slice(0, request.size)
          : rows.slice(-request.size);
    // seq is gap-free from 1 to lastSeq, so whether anything lies beyond the page is arithmetic.
    const lastSeq = await this.messages.lastSeq(chatId);
    const start = page[0]?.seq;
    const end = page[page.length - 1]?.seq;
    // Where an empty page stands: just past `after` going forward, just before `before` (or the end) going back.
    const position =
      request.direction === 'forward'
        ? (request.afterSeq ?? 0)
        : request.beforeSeq !== undefined
          ? request.beforeSeq - 1
          : lastSeq;
    return {
      edges: page.map((node) => ({ cursor: encodeCursor(node.seq), node })),
      pageInfo: {
        hasPreviousPage: start !== undefined ? start > 1 : Math.min(position, lastSeq) >= 1,
        hasNextPage: end !== undefined ? end < lastSeq : position < lastSeq,
        startCursor: start !== undefined ? encodeCursor(start) : null,
        endCursor: end !== undefined ? encodeCursor(end) : null,
      },
    };
  }

  /** The newest message of each chat the viewer is a member of (null elsewhere, and where there is none). */
  async lastMessages(viewerId: string, chatIds: readonly string[]): Promise<(MessageRecord | null)[]> {
    const found = await this.messages.lastOfChats(viewerId, chatIds.filter(isUuid));
    return chatIds.map((id) => found.get(id) ?? null);
  }

  /**
   * Edits a message: its author only, while a member of the chat; a deleted message cannot be edited. The edit
   * is the chat's next revision, published after it commits.
   */
  async edit(viewer: Viewer, id: string, rawContent: string): Promise<MessageRecord> {
    const content = requireText('content', rawContent, { min: 1, max: 4000 });
    const message = await this.forChange(viewer, id);
    if (message.user.id !== viewer.id) throw new ForbiddenError('only its author edits a message');
    const changed = message.deletedAt ? null : await this.messages.change(id, content);
    if (!changed) throw new ConflictError('a deleted message cannot be edited');
    void this.bus.publish(topics.messageChanges(changed.chatId), toEvent(changed));
    return changed;
  }

  /** Deletes a message (its author, or the chat's owner), leaving a tombstone; deleting it again changes nothing. */
  async delete(viewer: Viewer, id: string): Promise<MessageRecord> {
    const message = await this.forChange(viewer, id);
    if (message.user.id !== viewer.id) {
      const [state] = await this.chats.readStates(viewer.id, [message.chatId]);
      if (state?.role !== ChatRole.OWNER)
        throw new ForbiddenError("only its author or the chat's owner deletes a message");
    }
    if (message.deletedAt) return message;
    const changed = await this.messages.change(id, null);
    // Deleted meanwhile by someone else: as it is now.
    if (!changed) return (await this.messages.findForChange(id)) ?? message;
    void this.bus.publish(topics.messageChanges(changed.chatId), toEvent(changed));
    return changed;
  }

  private async forChange(viewer: Viewer, id: string): Promise<MessageRecord> {
    const message = isUuid(id) ? await this.messages.findForChange(id) : null;
    if (!message) throw new NotFoundError('message not found');
    await this.chats.assertMember(viewer, message.chatId);
    return message;
  }

  changedAfter(chatId: string, afterRevision: number, limit: number): Promise<MessageRecord[]> {
    return this.messages.changedAfter(chatId, afterRevision, limit);
  }

  lastRevisionForMember(chatId: string, userId: string): Promise<number | null> {
    return isUuid(chatId) && isUuid(userId)
      ? this.messages.lastRevisionForMember(chatId, userId)
      : Promise.resolve(null);
  }

  fetchAfter(chatId: string, afterSeq: number, limit: number): Promise<MessageRecord[]> {
    return this.messages.forward(chatId, afterSeq, limit);
  }

  /** The chat's last seq when the user is a member of it, otherwise null. */
  lastSeqForMember(chatId: string, userId: string): Promise<number | null> {
    return this.messages.lastSeqForMember(chatId, userId);
  }
}

export function toEvent(message: MessageRecord): MessageEvent {
  return {
    chatId: message.chatId,
    seq: message.seq,
    publishedAt: Date.now(),
    message: {
      ...message,
      createdAt: message.createdAt.toISOString(),
      editedAt: message.editedAt?.toISOString() ?? null,
      deletedAt: message.deletedAt?.toISOString() ?? null,
      user: { ...message.user, createdAt: message.user.createdAt.toISOString() },
    },
  };
}

/** The record an event carries (dates revived). */
export function fromEvent(event: MessageEvent): MessageRecord {
  const { message } = event;
  return {
    ...message,
    createdAt: new Date(message.createdAt),
    editedAt: message.editedAt === null ? null : new Date(message.editedAt),
    deletedAt: message.deletedAt === null ? null : new Date(message.deletedAt),
    user: { ...message.user, createdAt: new Date(message.user.createdAt) },
  };
}
