import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, Repository } from 'typeorm';
import { concurrentBatch } from '../common/concurrent-batch';
import { isUuid } from '../common/uuid';
import { Sql } from '../database/sql';
import { UserEntity } from '../users/user.entity';
import { ChatMemberEntity } from './chat-member.entity';
import { ChatRole } from './chat-role';
import { ChatEntity } from './chat.entity';

/** Upper bound on publicChats: the newest ones; a directory of every room ever made is not one response. */
export const PUBLIC_CHATS_LIMIT = 200;

export interface ReadState {
  lastReadSeq: number;
  role: ChatRole;
}

/** A membership and its user, as ChatMember shows it. */
export interface MembershipRow extends ReadState {
  chatId: string;
  joinedAt: Date;
  user: UserEntity;
}

export interface MarkReadResult {
  lastSeq: number;
  /** The position before the call; null when the user is not a member. */
  before: number | null;
  /** The position the call moved to; null when it did not move. */
  movedTo: number | null;
}

const MEMBERSHIP_COLUMNS = `m.chat_id, m.role, m.joined_at, m.last_read_seq,
  u.id AS user_id, u.email AS user_email, u.first_name AS user_first_name, u.created_at AS user_created_at`;

interface MembershipColumns {
  chat_id: string;
  role: ChatRole;
  joined_at: Date;
  last_read_seq: number;
  user_id: string;
  user_email: string;
  user_first_name: string;
  user_created_at: Date;
}

function toMembership(row: MembershipColumns): MembershipRow {
  return {
    chatId: row.chat_id,
    role: row.role,
    joinedAt: row.joined_at,
    lastReadSeq: row.last_read_seq,
    user: Object.assign(new UserEntity(), {
      id: row.user_id,
      email: row.user_email,
      firstName: row.user_first_name,
      createdAt: row.user_created_at,
    }),
  };
}

const MARK_READ = `WITH target AS (
     SELECT c.last_seq, cm.last_read_seq FROM chats c
     LEFT JOIN chat_members cm ON cm.chat_id = c.id AND cm.user_id = $2
     WHERE c.id = $1
   ), moved AS (
     UPDATE chat_members cm SET last_read_seq = $3 FROM target t
     WHERE cm.chat_id = $1 AND cm.user_id = $2 AND cm.last_read_seq < $3 AND $3 <= t.last_seq
     RETURNING cm.last_read_seq
   )
   SELECT t.last_seq AS "lastSeq", t.last_read_seq AS "before", (SELECT last_read_seq FROM moved) AS "movedTo"
   FROM target t`;

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
      await manager.insert(ChatMemberEntity, { chatId: chat.id, userId: values.createdBy, role: ChatRole.OWNER });
      return chat;
    });
  }

  findById(id: string): Promise<ChatEntity | null> {
    return this.chats.findOneBy({ id });
  }

  findByIds(ids: readonly string[]): Promise<ChatEntity[]> {
    return ids.length ? this.chats.findBy({ id: In([...ids]) }) : Promise.resolve([]);
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

  /**
   * Adds a membership; idempotent. Returns whether the user was not a member before. Someone who joins a chat
   * that has no owner left (everyone had gone) owns it; the chat's row is locked first, so a leave that runs at
   * the same moment is either seen whole or not at all.
   */
  async addMember(chatId: string, userId: string): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
      const added = await manager.query<unknown[]>(
        `INSERT INTO chat_members (chat_id, user_id, role)
         SELECT c.id, $2, CASE WHEN c.is_direct OR EXISTS (
           SELECT 1 FROM chat_members o WHERE o.chat_id = c.id AND o.role = 'OWNER'
         ) THEN 'MEMBER' ELSE 'OWNER' END
         FROM chats c WHERE c.id = $1
         ON CONFLICT DO NOTHING RETURNING user_id`,
        [chatId, userId],
      );
      return added.length > 0;
    });
  }

  /**
   * Moves the member's read position forward to `seq` when `seq` is within the chat (0..last_seq); never back,
   * also when two moves race (the comparison is made on the locked row). Null when there is no such chat.
   */
  async markRead(chatId: string, userId: string, seq: number): Promise<MarkReadResult | null> {
    const rows = await this.sql.query<MarkReadResult>(MARK_READ, [chatId, userId, seq]);
    return rows[0] ?? null;
  }

  /** The viewer's read position and role in each of these chats (absent: not a member). */
  async readStates(userId: string, chatIds: readonly string[]): Promise<Map<string, ReadState>> {
    const rows = await this.sql.query<ReadState & { chatId: string }>(
      `SELECT chat_id AS "chatId", last_read_seq AS "lastReadSeq", role FROM chat_members
       WHERE user_id = $1 AND chat_id = ANY($2::uuid[])`,
      [userId, chatIds],
    );
    return new Map(rows.map(({ chatId, ...state }) => [chatId, state]));
  }

  /** One membership with its user, for a read-position event; concurrent lookups share a query. */
  membership(chatId: string, userId: string): Promise<MembershipRow | null> {
    return this.oneMembership.load({ chatId, userId });
  }

  private readonly oneMembership = concurrentBatch<{ chatId: string; userId: string }, MembershipRow | null>(
    async (pairs) => {
      const rows = await this.sql.query<MembershipColumns & { ord: number }>(
        `SELECT p.ord::int AS ord, ${MEMBERSHIP_COLUMNS}
         FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS p(chat_id, user_id, ord)
         JOIN chat_members m ON m.chat_id = p.chat_id AND m.user_id = p.user_id JOIN users u ON u.id = m.user_id`,
        [pairs.map((pair) => pair.chatId), pairs.map((pair) => pair.userId)],
      );
      const found = new Map(rows.map((row) => [row.ord - 1, toMembership(row)]));
      return pairs.map((_, i) => found.get(i) ?? null);
    },
  );

  /**
   * Removes a membership (with `onlyByOwner`, only while that user owns the chat); when it was the owner's, the
   * database hands the chat to the longest-standing member (a trigger: chat_members_owner_left). The chat's row
   * is locked first, so removals run one after the other and the owner checked is the owner now. Returns the new
   * owner, or why nothing was removed.
   */
  async removeMember(
    chatId: string,
    userId: string,
    onlyByOwner?: string,
  ): Promise<{ heir: string | null } | 'not-a-member' | 'not-the-owner'> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
      if (onlyByOwner !== undefined) {
        const owner = await manager.query<unknown[]>(
          `SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2 AND role = 'OWNER'`,
          [chatId, onlyByOwner],
        );
        if (!owner.length) return 'not-the-owner';
      }
      // TypeORM answers an UPDATE or DELETE with [rows, count], a SELECT or INSERT with its rows.
      const [removed] = await manager.query<[{ role: ChatRole }[], number]>(
        'DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2 RETURNING role',
        [chatId, userId],
      );
      if (!removed.length) return 'not-a-member';
      if (removed[0].role !== ChatRole.OWNER) return { heir: null };
      const heirs = await manager.query<{ user_id: string }[]>(
        `SELECT user_id FROM chat_members WHERE chat_id = $1 AND role = 'OWNER'`,
        [chatId],
      );
      return { heir: heirs[0]?.user_id ?? null };
    });
  }

  /** Renames the chat when `ownerId` owns it; returns whether it did. */
  async rename(chatId: string, roomName: string, ownerId: string): Promise<boolean> {
    const renamed = await this.sql.query(
      `UPDATE chats SET room_name = $2 WHERE id = $1 AND EXISTS (
         SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $3 AND role = 'OWNER'
       ) RETURNING id`,
      [chatId, roomName, ownerId],
    );
    return renamed.length > 0;
  }

  /**
   * The direct chat of a pair, made by the first call: the unique key decides between two calls at once (the
   * second waits for the first's commit, inserts nothing and reads the first's chat). Returns who entered it.
   */
  async directChat(
    directKey: string,
    roomName: string,
    userIds: [string, string],
    createdBy: string,
  ): Promise<{ chat: ChatEntity; entered: string[] }> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO chats (room_name, is_private, is_direct, direct_key, created_by, last_seq)
         VALUES ($1, true, true, $2, $3, 0) ON CONFLICT (direct_key) DO NOTHING`,
        [roomName, directKey, createdBy],
      );
      const chat = await manager
        .getRepository(ChatEntity)
        .createQueryBuilder('c')
        .where('c.direct_key = :directKey', { directKey })
        .getOneOrFail();
      // Its two people are its members: one who left it is back in once either of them asks for it again.
      const entered = await manager.query<{ user_id: string }[]>(
        `INSERT INTO chat_members (chat_id, user_id) SELECT $1, unnest($2::uuid[])
         ON CONFLICT DO NOTHING RETURNING user_id`,
        [chat.id, userIds],
      );
      return { chat, entered: entered.map((row) => row.user_id) };
    });
  }

  chatsOfUser(userId: string): Promise<ChatEntity[]> {
    return this.chats
      .createQueryBuilder('c')
      .innerJoin(ChatMemberEntity, 'm', 'm.chat_id = c.id AND m.user_id = :userId', { userId })
      .orderBy('c.created_at', 'DESC')
      .addOrderBy('c.id')
      .getMany();
  }

  /** A page of public chats, newest first; after the chat `afterId` names (the last of the page before), if given. */
  publicChats(afterId?: string): Promise<ChatEntity[]> {
    const query = this.chats.createQueryBuilder('c').where('NOT c.is_private');
    if (afterId) {
      // Compared with the stored time, to the microsecond (a Date read back would have lost those), and read once
      // for the query, so the index on (created_at DESC, id) starts the page at it.
      const at = '(SELECT a.created_at FROM chats a WHERE a.id = :after)';
      query.andWhere(`c.created_at <= ${at} AND (c.created_at < ${at} OR c.id > :after)`, { after: afterId });
    }
    return query.orderBy('c.created_at', 'DESC').addOrderBy('c.id').limit(PUBLIC_CHATS_LIMIT).getMany();
  }

  /** The memberships of several chats in one query, longest-standing first, for the members DataLoaders. */
  async membershipsOf(chatIds: readonly string[]): Promise<Map<string, MembershipRow[]>> {
    const rows = await this.sql.query<MembershipColumns>(
      `SELECT ${MEMBERSHIP_COLUMNS} FROM chat_members m JOIN users u ON u.id = m.user_id
       WHERE m.chat_id = ANY($1::uuid[]) ORDER BY m.joined_at, u.id`,
      [chatIds],
    );
    const byChat = new Map<string, MembershipRow[]>(chatIds.map((id) => [id, []]));
    for (const row of rows) byChat.get(row.chat_id)?.push(toMembership(row));
    return byChat;
  }
}
