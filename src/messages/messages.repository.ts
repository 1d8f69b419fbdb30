import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { isUniqueViolation } from '../database/postgres-errors';
import { MessageRecord } from './message-record';

interface MessageRow {
  id: string;
  chat_id: string;
  seq: number;
  content: string;
  client_id: string | null;
  created_at: Date;
  user_id: string;
  user_first_name: string;
  user_email: string;
  user_created_at: Date;
}

const MESSAGE_COLUMNS = `m.id, m.chat_id, m.seq, m.content, m.client_id, m.created_at,
  u.id AS user_id, u.first_name AS user_first_name, u.email AS user_email, u.created_at AS user_created_at`;

export interface InsertResult {
  message: MessageRecord;
  /** true when (chat, user, clientId) already existed: a retry, not a new message. */
  duplicate: boolean;
}

/** Every query on messages. */
@Injectable()
export class MessagesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * One statement, so one round trip: when the author is a member and no message of theirs carries this
   * clientId, take last_seq + 1 and insert; otherwise return the existing message. Bumping last_seq locks the
   * chat row, so seq follows commit order with no gap. Two racing retries of one clientId both miss `existing`
   * (it reads the statement's snapshot); the second then hits the unique key and its whole statement, bump
   * included, rolls back, so it is run again and finds the first. Null: the author is not a member (or there is
   * no such chat).
   */
  async insert(chatId: string, userId: string, content: string, clientId: string | null): Promise<InsertResult | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = await this.dataSource.query<(MessageRow & { duplicate: boolean })[]>(
          `WITH member AS (
             SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2
           ), existing AS (
             SELECT * FROM messages
             WHERE $4::text IS NOT NULL AND chat_id = $1 AND user_id = $2 AND client_id = $4
           ), bumped AS (
             UPDATE chats SET last_seq = last_seq + 1
             WHERE id = $1 AND EXISTS (SELECT 1 FROM member) AND NOT EXISTS (SELECT 1 FROM existing)
             RETURNING last_seq
           ), inserted AS (
             INSERT INTO messages (chat_id, seq, user_id, content, client_id)
             SELECT $1, bumped.last_seq, $2, $3, $4 FROM bumped
             RETURNING *
           ), m AS (
             SELECT *, false AS duplicate FROM inserted
             UNION ALL
             SELECT *, true AS duplicate FROM existing WHERE EXISTS (SELECT 1 FROM member)
           )
           SELECT ${MESSAGE_COLUMNS}, m.duplicate FROM m JOIN users u ON u.id = m.user_id`,
          [chatId, userId, content, clientId],
        );
        return rows[0] ? { message: toRecord(rows[0]), duplicate: rows[0].duplicate } : null;
      } catch (error) {
        if (attempt < 3 && isUniqueViolation(error, 'messages_chat_user_client_key')) continue;
        throw error;
      }
    }
  }

  /** Up to `limit` messages with seq > afterSeq (and < beforeSeq when given), oldest first. */
  async forward(chatId: string, afterSeq: number, limit: number, beforeSeq?: number): Promise<MessageRecord[]> {
    const rows = await this.dataSource.query<MessageRow[]>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id
       WHERE m.chat_id = $1 AND m.seq > $2 AND ($3::int IS NULL OR m.seq < $3)
       ORDER BY m.seq ASC LIMIT $4`,
      [chatId, afterSeq, beforeSeq ?? null, limit],
    );
    return rows.map(toRecord);
  }

  /** Up to `limit` messages with seq < beforeSeq (when given) and > afterSeq, newest first. */
  async backward(chatId: string, beforeSeq: number | undefined, limit: number, afterSeq = 0): Promise<MessageRecord[]> {
    const rows = await this.dataSource.query<MessageRow[]>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id
       WHERE m.chat_id = $1 AND m.seq > $2 AND ($3::int IS NULL OR m.seq < $3)
       ORDER BY m.seq DESC LIMIT $4`,
      [chatId, afterSeq, beforeSeq ?? null, limit],
    );
    return rows.map(toRecord);
  }

  async lastSeq(chatId: string): Promise<number> {
    const rows = await this.dataSource.query<{ last_seq: number }[]>('SELECT last_seq FROM chats WHERE id = $1', [
      chatId,
    ]);
    return rows[0]?.last_seq ?? 0;
  }
}

function toRecord(row: MessageRow): MessageRecord {
  return {
    id: row.id,
    chatId: row.chat_id,
    seq: row.seq,
    content: row.content,
    clientId: row.client_id,
    createdAt: row.created_at,
    user: { id: row.user_id, firstName: row.user_first_name, email: row.user_email, createdAt: row.user_created_at },
  };
}
