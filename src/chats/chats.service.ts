import { Injectable } from '@nestjs/common';
import { BadInputError, ForbiddenError, NotFoundError } from '../common/errors';
import { requireText } from '../common/text';
import { isUuid } from '../common/uuid';
import { isMissingUser } from '../database/postgres-errors';
import { EventBus } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { UsersService } from '../users/users.service';
import { Viewer } from '../users/token.service';
import { ChatEntity } from './chat.entity';
import { ChatsRepository, MembershipRow, ReadState } from './chats.repository';
import { CreateChatInput } from './dto/create-chat.input';

/** Chats and membership rules. */
@Injectable()
export class ChatsService {
  constructor(
    private readonly chats: ChatsRepository,
    private readonly users: UsersService,
    private readonly bus: EventBus,
  ) {}

  async create(viewer: Viewer, input: CreateChatInput): Promise<ChatEntity> {
    const roomName = requireText('roomName', input.roomName, { min: 1, max: 100 });
    const chat = await this.chats.createWithCreator({
      roomName,
      isPrivate: input.isPrivate ?? false,
      createdBy: viewer.id,
    });
    // The creator is its first member: their chat list follows it from now on, as it would a chat they joined.
    await this.entered(chat.id, viewer.id);
    if (!chat.isPrivate) {
      await this.bus.publish(topics.publicChats(), {
        id: chat.id,
        roomName: chat.roomName,
        createdAt: chat.createdAt.toISOString(),
      });
    }
    return chat;
  }

  /** The chat, when it exists and the viewer is a member. */
  async getForMember(viewer: Viewer, chatId: string): Promise<ChatEntity> {
    const chat = await this.getExisting(chatId);
    if (!(await this.chats.isMember(chat.id, viewer.id))) throw new ForbiddenError('you are not a member of this chat');
    return chat;
  }

  /** Throws unless the chat exists and the viewer is a member; cheaper than getForMember when the row is not needed. */
  async assertMember(viewer: Viewer, chatId: string): Promise<void> {
    if (!isUuid(chatId)) throw new NotFoundError('chat not found');
    if (await this.chats.isMember(chatId, viewer.id)) return;
    await this.getExisting(chatId);
    throw new ForbiddenError('you are not a member of this chat');
  }

  async join(viewer: Viewer, chatId: string): Promise<ChatEntity> {
    const chat = await this.getExisting(chatId);
    if (chat.isDirect) throw new ForbiddenError('nobody joins a direct chat');
    if (chat.isPrivate) {
      if (!(await this.chats.isMember(chat.id, viewer.id))) throw new ForbiddenError('this chat is private');
      return chat;
    }
    if (await this.chats.addMember(chat.id, viewer.id)) await this.entered(chat.id, viewer.id);
    return chat;
  }

  /** Any member adds someone, named by id or by email (exactly one of the two). */
  async addMember(
    viewer: Viewer,
    chatId: string,
    person: { userId?: string | null; email?: string | null },
  ): Promise<ChatEntity> {
    const { userId, email } = person;
    if ((userId == null) === (email == null)) throw new BadInputError('give exactly one of userId and email');
    const chat = await this.getForMember(viewer, chatId);
    if (chat.isDirect) throw new ForbiddenError('nobody is added to a direct chat');
    const user = userId != null ? await this.users.getById(userId) : await this.users.getByEmail(email!);
    if (!user) throw new NotFoundError(userId != null ? 'user not found' : 'nobody has this email');
    const added = await this.chats.addMember(chat.id, user.id).catch((error: unknown) => {
      // The person's account went between the lookup and the insert.
      if (isMissingUser(error)) throw new NotFoundError('user not found');
      throw error;
    });
    if (added) await this.entered(chat.id, user.id);
    return chat;
  }

  /**
   * The owner removes a member (themselves: that is leaving); removal ends what leaving ends. Nobody is removed
   * from a direct chat, oneself included: leaving it is leaveChat.
   */
  async removeMember(viewer: Viewer, chatId: string, userId: string): Promise<boolean> {
    const chat = await this.getForMember(viewer, chatId);
    if (chat.isDirect) throw new ForbiddenError('nobody is removed from a direct chat');
    if (userId === viewer.id) return this.leave(viewer, chat.id);
    if (!isUuid(userId)) throw new NotFoundError('not a member of this chat');
    const removed = await this.chats.removeMember(chat.id, userId, viewer.id);
    if (removed === 'not-the-owner') throw new ForbiddenError('only the owner removes members');
    if (removed === 'not-a-member') throw new NotFoundError('not a member of this chat');
    await this.departed(chat.id, userId, removed.heir);
    return true;
  }

  async rename(viewer: Viewer, chatId: string, name: string): Promise<ChatEntity> {
    const roomName = requireText('roomName', name, { min: 1, max: 100 });
    const chat = await this.getForMember(viewer, chatId);
    if (chat.isDirect) throw new ForbiddenError('a direct chat is never renamed');
    if (!(await this.chats.rename(chat.id, roomName, viewer.id))) {
      throw new ForbiddenError('only the owner renames the chat');
    }
    await this.bus.publish(topics.membership(chat.id), { chatId: chat.id, kind: 'renamed', roomName });
    return { ...chat, roomName };
  }

  /** The viewer's direct chat with another person: made by the first call of either, the same one after. */
  async directChat(viewer: Viewer, userId: string): Promise<ChatEntity> {
    if (userId === viewer.id) throw new BadInputError('a direct chat is with someone else');
    const [other, self] = await Promise.all([this.users.getById(userId), this.users.getById(viewer.id)]);
    if (!other || !self) throw new NotFoundError('user not found');
    const pair = [self, other].sort((a, b) => a.id.localeCompare(b.id));
    const { chat, entered } = await this.chats
      .directChat(
        pair.map((user) => user.id).join(':'),
        pair
          .map((user) => user.firstName)
          .sort((a, b) => a.localeCompare(b))
          .join(' & '),
        [pair[0].id, pair[1].id],
        viewer.id,
      )
      .catch((error: unknown) => {
        // The other person's account went between the lookup and the insert.
        if (isMissingUser(error)) throw new NotFoundError('user not found');
        throw error;
      });
    await Promise.all(entered.map((id) => this.entered(chat.id, id)));
    return chat;
  }

  /** Every instance ends the subscriptions of who left or was removed, and tells a new owner's inbox. */
  private async departed(chatId: string, userId: string, heir: string | null): Promise<void> {
    await this.bus.publish(topics.membership(chatId), { chatId, userId, kind: 'left' });
    if (heir) await this.bus.publish(topics.membership(chatId), { chatId, userId: heir, kind: 'owner' });
  }

  /**
   * Moves the viewer's read position forward to `seq` (never back) and returns the position now. Every instance
   * hears of a move: the chat's readPositions subscribers and the viewer's own inboxes.
   */
  async markRead(viewer: Viewer, chatId: string, seq: number): Promise<number> {
    if (!isUuid(chatId)) throw new NotFoundError('chat not found');
    const result = await this.chats.markRead(chatId, viewer.id, Math.max(seq, 0));
    if (!result) throw new NotFoundError('chat not found');
    if (result.before === null) throw new ForbiddenError('you are not a member of this chat');
    if (seq < 0 || seq > result.lastSeq) {
      throw new BadInputError(`seq must be from 0 to the chat's lastSeq (${result.lastSeq})`);
    }
    if (result.movedTo === null) return result.before;
    const lastReadSeq = result.movedTo;
    await Promise.all([
      this.bus.publish(topics.readPositions(chatId), { chatId, userId: viewer.id, lastReadSeq }),
      this.bus.publish(topics.inbox(viewer.id), { kind: 'read', chatId, lastReadSeq }),
    ]);
    return lastReadSeq;
  }

  /** The viewer's read position and role in each chat (null where they are not a member). */
  async readStates(viewerId: string, chatIds: readonly string[]): Promise<(ReadState | null)[]> {
    const states = await this.chats.readStates(viewerId, chatIds.filter(isUuid));
    return chatIds.map((id) => states.get(id) ?? null);
  }

  async membershipsOf(chatIds: readonly string[]): Promise<MembershipRow[][]> {
    const byChat = await this.chats.membershipsOf(chatIds);
    return chatIds.map((id) => byChat.get(id) ?? []);
  }

  /** One member's membership with their user; null when they are not a member. */
  membership(chatId: string, userId: string): Promise<MembershipRow | null> {
    return isUuid(chatId) && isUuid(userId) ? this.chats.membership(chatId, userId) : Promise.resolve(null);
  }

  /** A user's inboxes, on every instance, start following a chat they entered. */
  private async entered(chatId: string, userId: string): Promise<void> {
    await this.bus.publish(topics.inbox(userId), { kind: 'joined', chatId });
  }

  /** Leaves the chat; every instance then ends the leaver's subscriptions to it. */
  async leave(viewer: Viewer, chatId: string): Promise<boolean> {
    await this.getExisting(chatId);
    const removed = await this.chats.removeMember(chatId, viewer.id);
    if (typeof removed === 'string') throw new ForbiddenError('you are not a member of this chat');
    await this.departed(chatId, viewer.id, removed.heir);
    return true;
  }

  chatsOf(viewer: Viewer): Promise<ChatEntity[]> {
    return this.chats.chatsOfUser(viewer.id);
  }

  /** These chats as they are now, whoever asks: for callers that have checked membership their own way. */
  chatsByIds(chatIds: readonly string[]): Promise<ChatEntity[]> {
    return this.chats.findByIds(chatIds.filter(isUuid));
  }

  /** Public chats, newest first, a page at a time; `after` is the id of the last chat of the page before. */
  async publicChats(after?: string | null): Promise<ChatEntity[]> {
    if (after == null) return this.chats.publicChats();
    const last = isUuid(after) ? await this.chats.findById(after) : null;
    if (!last || last.isPrivate) throw new BadInputError('after must be the id of a public chat');
    return this.chats.publicChats(last.id);
  }

  /** The membership check for a batch-loaded member list, so N chats cost no N extra queries. */
  assertListed(viewer: Viewer, memberships: readonly { user: { id: string } }[]): void {
    if (!memberships.some((membership) => membership.user.id === viewer.id)) {
      throw new ForbiddenError('you are not a member of this chat');
    }
  }

  private async getExisting(chatId: string): Promise<ChatEntity> {
    const chat = isUuid(chatId) ? await this.chats.findById(chatId) : null;
    if (!chat) throw new NotFoundError('chat not found');
    return chat;
  }
}
