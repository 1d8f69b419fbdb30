import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { concurrentBatch } from '../common/concurrent-batch';
import { isUuid } from '../common/uuid';
import { Sql } from '../database/sql';
import { UserEntity } from '../users/user.entity';
import { ChatMemberEntity } from './chat-member.entity';
import { ChatEntity } from './chat.entity';

/** Upper bound on publicChats: the newest ones; a directory of every room ever made is not one response. */
export const PUBLIC_CHATS_LIMIT = 200;

/** Every query on chats and memberships. */
@Injectable()
export class ChatsRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly sql: Sql,
    @InjectRepository(ChatEntity) private readonly chats: Repository<ChatEntity>,
    @InjectRepository(ChatMemberEntity) private readonly members: Repository<ChatMemberEntity>,
  ) {}

  /** Creates the chat and its creator's membership in one transaction. */
  createWithCreator(values: Pick<ChatEntity, 'roomName' | 'isPrivate' | 'createdBy'>): Promise<ChatEntity> {
    return this.dataSource.transaction(async (manager) => {
      const chat = await manager.save(manager.create(ChatEntity, { ...values, lastSeq: 0 }));
      await manager.insert(ChatMemberEntity, { chatId: chat.id, userId: values.createdBy });
      return chat;
    });
  }

  findById(id: string): Promise<ChatEntity | null> {
    return this.chats.findOneBy({ id });
  }

  /** Asked on every subscribe and read: plain SQL, and concurrent askers share one query (see concurrentBatch). */
  isMember(chatId: string, userId: string): Promise<boolean> {
    return isUuid(chatId) && isUuid(userId) ? this.memberships.load({ chatId, userId }) : Promise.resolve(false);
  }

  private readonly memberships = concurrentBatch<{ chatId: string; userId: string }, boolean>(async (pairs) => {
    const rows = await this.sql.query<{ ord: number }>(
      `SELECT p.ord::int AS ord FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS p(chat_id, user_id, ord)
       JOIN chat_members cm ON cm.chat_id = p.chat_id AND cm.user_id = p.user_id`,
      [pairs.map((pair) => pair.chatId), pairs.map((pair) => pair.userId)],
    );
    const members = new Set(rows.map((row) => row.ord - 1));
    return pairs.map((_, i) => members.has(i));
  });

  /** Adds a membership; idempotent. */
  async addMember(chatId: string, userId: string): Promise<void> {
    await this.members.createQueryBuilder().insert().values({ chatId, userId }).orIgnore().execute();
  }

  /** Removes a membership; returns whether there was one. */
  async removeMember(chatId: string, userId: string): Promise<boolean> {
    const result = await this.members.delete({ chatId, userId });
    return (result.affected ?? 0) > 0;
  }

  chatsOfUser(userId: string): Promise<ChatEntity[]> {
    return this.chats
      .createQueryBuilder('c')
      .innerJoin(ChatMemberEntity, 'm', 'm.chat_id = c.id AND m.user_id = :userId', { userId })
      .orderBy('c.created_at', 'DESC')
      .addOrderBy('c.id')
      .getMany();
  }

  publicChats(): Promise<ChatEntity[]> {
    return this.chats
      .createQueryBuilder('c')
      .where('NOT c.is_private')
      .orderBy('c.created_at', 'DESC')
      .addOrderBy('c.id')
      .limit(PUBLIC_CHATS_LIMIT)
      .getMany();
  }

  /** Members of several chats in one query, for the members DataLoader. */
  async membersOf(chatIds: readonly string[]): Promise<Map<string, UserEntity[]>> {
    const rows = await this.dataSource
      .createQueryBuilder()
      .select(['m.chat_id AS chat_id', 'u.id AS id', 'u.email AS email', 'u.first_name AS first_name'])
      .addSelect('u.created_at', 'created_at')
      .from(ChatMemberEntity, 'm')
      .innerJoin(UserEntity, 'u', 'u.id = m.user_id')
      .where('m.chat_id IN (:...chatIds)', { chatIds: [...chatIds] })
      .orderBy('m.joined_at')
      .addOrderBy('u.id')
      .getRawMany<{ chat_id: string; id: string; email: string; first_name: string; created_at: Date }>();
    const byChat = new Map<string, UserEntity[]>(chatIds.map((id) => [id, []]));
    for (const row of rows) {
      byChat.get(row.chat_id)?.push(
        Object.assign(new UserEntity(), {
          id: row.id,
          email: row.email,
          firstName: row.first_name,
          createdAt: row.created_at,
        }),
      );
    }
    return byChat;
  }
}
