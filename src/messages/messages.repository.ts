import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
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
   * One transaction: lock the chat row, look for a retry of the same clientId, take last_seq + 1, insert.
   * The row lock makes seq follow commit order with no gap; under it the clientId check cannot race.
   */
  insert(chatId: string, userId: string, content: string, clientId: string | null): Promise<InsertResult> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
      if (clientId !== null) {
        const existing = await this.findByClientId(manager, chatId, userId, clientId);
        if (existing) return { message: existing, duplicate: true };
      }
      const rows = await manager.query<MessageRow[]>(
        `WITH bumped AS (
           UPDATE chats SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq
         ), m AS (
           INSERT INTO messages (chat_id, seq, user_id, content, client_id)
           SELECT $1, bumped.last_seq, $2, $3, $4 FROM bumped
           RETURNING *
         )
         SELECT ${MESSAGE_COLUMNS} FROM m JOIN users u ON u.id = m.user_id`,
        [chatId, userId, content, clientId],
      );
      return { message: toRecord(rows[0]), duplicate: false };
    });
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

  private async findByClientId(
    manager: EntityManager,
    chatId: string,
    userId: string,
    clientId: string,
  ): Promise<MessageRecord | null> {
    const rows = await manager.query<MessageRow[]>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id
       WHERE m.chat_id = $1 AND m.user_id = $2 AND m.client_id = $3`,
      [chatId, userId, clientId],
    );
    return rows[0] ? toRecord(rows[0]) : null;
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
