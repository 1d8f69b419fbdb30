import { Injectable } from '@nestjs/common';
import { ForbiddenError, NotFoundError } from '../common/errors';
import { requireText } from '../common/text';
import { isUuid } from '../common/uuid';
import { EventBus } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { UserEntity } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { Viewer } from '../users/token.service';
import { ChatEntity } from './chat.entity';
import { ChatsRepository } from './chats.repository';
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
    return this.chats.createWithCreator({ roomName, isPrivate: input.isPrivate ?? false, createdBy: viewer.id });
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
    if (chat.isPrivate) {
      if (!(await this.chats.isMember(chat.id, viewer.id))) throw new ForbiddenError('this chat is private');
      return chat;
    }
    await this.chats.addMember(chat.id, viewer.id);
    return chat;
  }

  async addMember(viewer: Viewer, chatId: string, userId: string): Promise<ChatEntity> {
    const chat = await this.getForMember(viewer, chatId);
    const user = await this.users.getById(userId);
    if (!user) throw new NotFoundError('user not found');
    await this.chats.addMember(chat.id, user.id);
    return chat;
  }

  /** Leaves the chat; every instance then ends the leaver's subscriptions to it. */
  async leave(viewer: Viewer, chatId: string): Promise<boolean> {
    await this.getExisting(chatId);
    const removed = await this.chats.removeMember(chatId, viewer.id);
    if (!removed) throw new ForbiddenError('you are not a member of this chat');
    await this.bus.publish(topics.membership(chatId), { chatId, userId: viewer.id, kind: 'left' });
    return true;
  }

  chatsOf(viewer: Viewer): Promise<ChatEntity[]> {
    return this.chats.chatsOfUser(viewer.id);
  }

  publicChats(): Promise<ChatEntity[]> {
    return this.chats.publicChats();
  }

  async membersOf(chatIds: readonly string[]): Promise<UserEntity[][]> {
    const byChat = await this.chats.membersOf(chatIds);
    return chatIds.map((id) => byChat.get(id) ?? []);
  }

  /** The membership check for a batch-loaded member list, so N chats cost no N extra queries. */
  assertListed(viewer: Viewer, members: readonly { id: string }[]): void {
    if (!members.some((member) => member.id === viewer.id)) {
      throw new ForbiddenError('you are not a member of this chat');
    }
  }

  private async getExisting(chatId: string): Promise<ChatEntity> {
    const chat = isUuid(chatId) ? await this.chats.findById(chatId) : null;
    if (!chat) throw new NotFoundError('chat not found');
    return chat;
  }
}
