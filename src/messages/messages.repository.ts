import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { concurrentBatch } from '../common/concurrent-batch';
import { isUuid } from '../common/uuid';
import { GroupCommit } from '../database/group-commit';
import { isDeadlock, isUniqueViolation } from '../database/postgres-errors';
import { Sql } from '../database/sql';
import { MessageRecord } from './message-record';

interface MessageRow {
  id: string;
  chat_id: string;
  seq: number;
  content: string;
  client_id: string | null;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
  revision: number;
  user_id: string;
  user_first_name: string;
  user_email: string;
  user_created_at: Date;
}

const MESSAGE_COLUMNS = `m.id, m.chat_id, m.seq, m.content, m.client_id, m.created_at, m.edited_at, m.deleted_at, m.revision,
  u.id AS user_id, u.first_name AS user_first_name, u.email AS user_email, u.created_at AS user_created_at`;

// Statement texts are built once: Sql looks each up by its text on every call, and a template literal with an
// interpolation would make (and hash) a new string of over a kilobyte per send.
const INSERT_BATCH = `WITH input AS (
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
       WITH ORDINALITY AS t(chat_id, user_id, content, client_id, ord)
   ), allowed AS (
     SELECT i.* FROM input i
     WHERE EXISTS (SELECT 1 FROM chat_members cm WHERE cm.chat_id = i.chat_id AND cm.user_id = i.user_id)
   ), existing AS (
     SELECT a.ord, m.* FROM allowed a
     JOIN messages m ON m.chat_id = a.chat_id AND m.user_id = a.user_id AND m.client_id = a.client_id
   ), fresh AS (
     SELECT a.*, row_number() OVER (PARTITION BY a.chat_id ORDER BY a.ord) AS pos
     FROM allowed a WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.ord = a.ord)
   ), counts AS (
     SELECT chat_id, count(*)::int AS n FROM fresh GROUP BY chat_id
   ), locked AS (
     SELECT c.id FROM chats c WHERE c.id IN (SELECT chat_id FROM counts) ORDER BY c.id FOR UPDATE
   ), bumped AS (
     UPDATE chats c SET last_seq = c.last_seq + counts.n
     FROM counts JOIN locked ON locked.id = counts.chat_id
     WHERE c.id = counts.chat_id
     RETURNING c.id, c.last_seq - counts.n AS base
   ), inserted AS (
     INSERT INTO messages (chat_id, seq, user_id, content, client_id)
     SELECT f.chat_id, b.base + f.pos, f.user_id, f.content, f.client_id
     FROM fresh f JOIN bumped b ON b.id = f.chat_id
     RETURNING *
   ), read AS (
     -- What its author sends, they have read: their read position moves to their newest message.
     UPDATE chat_members cm SET last_read_seq = r.seq
     FROM (SELECT chat_id, user_id, max(seq) AS seq FROM inserted GROUP BY chat_id, user_id) r
     WHERE cm.chat_id = r.chat_id AND cm.user_id = r.user_id AND cm.last_read_seq < r.seq
   ), m AS (
     SELECT f.ord, i.*, false AS duplicate
     FROM inserted i JOIN bumped b ON b.id = i.chat_id JOIN fresh f ON f.chat_id = i.chat_id AND b.base + f.pos = i.seq
     UNION ALL
     SELECT e.*, true AS duplicate FROM existing e
   )
   SELECT m.ord, ${MESSAGE_COLUMNS}, m.duplicate FROM m JOIN users u ON u.id = m.user_id`;

const FORWARD = `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id
  WHERE m.chat_id = $1 AND m.seq > $2 AND ($3::int IS NULL OR m.seq < $3)
  ORDER BY m.seq ASC LIMIT $4`;

const BACKWARD = `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id
  WHERE m.chat_id = $1 AND m.seq > $2 AND ($3::int IS NULL OR m.seq < $3)
  ORDER BY m.seq DESC LIMIT $4`;

const CHANGED_AFTER = `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id
  WHERE m.chat_id = $1 AND m.revision > $2 ORDER BY m.revision ASC LIMIT $3`;

const LAST_OF_CHATS = `SELECT ${MESSAGE_COLUMNS} FROM chats c
  JOIN chat_members cm ON cm.chat_id = c.id AND cm.user_id = $1
  JOIN messages m ON m.chat_id = c.id AND m.seq = c.last_seq JOIN users u ON u.id = m.user_id
  WHERE c.id = ANY($2::uuid[])`;

interface NewMessage {
  chatId: string;
  userId: string;
  content: string;
  clientId: string | null;
}

export interface InsertResult {
  message: MessageRecord;
  /** true when (chat, user, clientId) already existed: a retry, not a new message. */
  duplicate: boolean;
}

/** Every query on messages. */
@Injectable()
export class MessagesRepository {
  constructor(
    private readonly sql: Sql,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** One message as it is now. */
  async findForChange(id: string): Promise<MessageRecord | null> {
    const rows = await this.sql.query<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id WHERE m.id = $1`,
      [id],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /**
   * Applies an edit (new content) or a delete (content null) as the chat's next revision: the chat's row is
   * locked while its revision is bumped and the message changed, so revisions follow commit order without gaps.
   * A deleted message is never changed again: null then, and nothing is bumped.
   */
  async change(id: string, content: string | null): Promise<MessageRecord | null> {
    return this.dataSource.transaction(async (manager) => {
      // The message's row first: two changes of one message run one after the other, and the second sees the first.
      const [target] = await manager.query<{ chat_id: string; deleted_at: Date | null }[]>(
        'SELECT chat_id, deleted_at FROM messages WHERE id = $1 FOR UPDATE',
        [id],
      );
      if (!target || target.deleted_at !== null) return null;
      const [revised] = await manager.query<[{ last_revision: number }[], number]>(
        'UPDATE chats SET last_revision = last_revision + 1 WHERE id = $1 RETURNING last_revision',
        [target.chat_id],
      );
      await manager.query(
        content === null
          ? `UPDATE messages SET content = '', deleted_at = now(), revision = $2 WHERE id = $1`
          : `UPDATE messages SET content = $3, edited_at = now(), revision = $2 WHERE id = $1`,
        content === null ? [id, revised[0].last_revision] : [id, revised[0].last_revision, content],
      );
      const rows = await manager.query<MessageRow[]>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id WHERE m.id = $1`,
        [id],
      );
      return toRecord(rows[0]);
    });
  }

  /** Up to `limit` messages of the chat whose newest change is after `afterRevision`, in revision order. */
  async changedAfter(chatId: string, afterRevision: number, limit: number): Promise<MessageRecord[]> {
    const rows = await this.sql.query<MessageRow>(CHANGED_AFTER, [chatId, afterRevision, limit]);
    return rows.map(toRecord);
  }

  /** The chat's last revision when the user is a member of it, otherwise null. */
  async lastRevisionForMember(chatId: string, userId: string): Promise<number | null> {
    const rows = await this.sql.query<{ last_revision: number }>(
      `SELECT c.last_revision FROM chats c JOIN chat_members cm ON cm.chat_id = c.id AND cm.user_id = $2
       WHERE c.id = $1`,
      [chatId, userId],
    );
    return rows[0]?.last_revision ?? null;
  }

  /**
   * Sends go to the database together (see GroupCommit): one statement for every send waiting, so under load
   * the round trip, the parse and the commit are shared. The next statement waits for the running one, which
   * makes batches larger (S5: 7 sends a statement with two running at once, 0.437× raw INSERT; 0.479× one at a
   * time), except that after 10 ms a second may start, so one slow commit does not stop the line.
   */
  private readonly sends = new GroupCommit<NewMessage, InsertResult | null>((batch) => this.insertBatch(batch), {
    maxBatch: 256,
    maxInFlight: 2,
    overlapAfterMs: 10,
  });

  /**
   * When the author is a member and no message of theirs carries this clientId, takes the chat's next seq and
   * inserts; otherwise returns the existing message. Null: the author is not a member (or there is no such chat).
   */
  insert(chatId: string, userId: string, content: string, clientId: string | null): Promise<InsertResult | null> {
    return this.sends.submit({ chatId, userId, content, clientId });
  }

  /**
   * One statement for a batch of sends. Each chat's last_seq is bumped once by the number of its new messages,
   * which take the seqs in arrival order; the bump locks the chat row, so seq follows commit order with no gap.
   * The rows are locked in id order, so two batches that share chats (on two instances) wait rather than
   * deadlock. Two racing retries of one clientId both miss `existing` (it reads the statement's snapshot); the
   * second then hits the unique key and its whole statement rolls back, so it is run again and finds the first.
   * A retry that repeats within one batch is answered from the first one's row.
   */
  private async insertBatch(batch: NewMessage[]): Promise<(InsertResult | null)[]> {
    const firstOf = new Map<string, number>();
    const unique: NewMessage[] = [];
    const slot = batch.map((send) => {
      if (send.clientId === null) return unique.push(send) - 1;
      const key = `${send.chatId} ${send.userId} ${send.clientId}`;
      let at = firstOf.get(key);
      if (at === undefined) firstOf.set(key, (at = unique.push(send) - 1));
      return at;
    });
    const rows = await this.runBatch(unique);
    const byOrdinal = new Map(rows.map((row) => [Number(row.ord), row]));
    const results = unique.map((_, i) => {
      const row = byOrdinal.get(i + 1);
      return row ? { message: toRecord(row), duplicate: row.duplicate } : null;
    });
    const seen = new Set<number>();
    return slot.map((at) => {
      const result = results[at];
      if (seen.has(at) && result) return { ...result, duplicate: true };
      seen.add(at);
      return result;
    });
  }

  private async runBatch(sends: NewMessage[]): Promise<(MessageRow & { ord: string; duplicate: boolean })[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sql.query(INSERT_BATCH, [
          sends.map((s) => s.chatId),
          sends.map((s) => s.userId),
          sends.map((s) => s.content),
          sends.map((s) => s.clientId),
        ]);
      } catch (error) {
        const retriable = isUniqueViolation(error, 'messages_chat_user_client_key') || isDeadlock(error);
        if (attempt < 3 && retriable) continue;
        throw error;
      }
    }
  }

  /** Up to `limit` messages with seq > afterSeq (and < beforeSeq when given), oldest first. */
  async forward(chatId: string, afterSeq: number, limit: number, beforeSeq?: number): Promise<MessageRecord[]> {
    const rows = await this.sql.query<MessageRow>(FORWARD, [chatId, afterSeq, beforeSeq ?? null, limit]);
    return rows.map(toRecord);
  }

  /** Up to `limit` messages with seq < beforeSeq (when given) and > afterSeq, newest first. */
  async backward(chatId: string, beforeSeq: number | undefined, limit: number, afterSeq = 0): Promise<MessageRecord[]> {
    const rows = await this.sql.query<MessageRow>(BACKWARD, [chatId, afterSeq, beforeSeq ?? null, limit]);
    return rows.map(toRecord);
  }

  /** The newest message of each of these chats that `userId` is a member of. */
  async lastOfChats(userId: string, chatIds: readonly string[]): Promise<Map<string, MessageRecord>> {
    const rows = await this.sql.query<MessageRow>(LAST_OF_CHATS, [userId, chatIds]);
    return new Map(rows.map((row) => [row.chat_id, toRecord(row)]));
  }

  lastSeqForMember(chatId: string, userId: string): Promise<number | null> {
    return isUuid(chatId) && isUuid(userId) ? this.lastSeqs.load({ chatId, userId }) : Promise.resolve(null);
  }

  /** Every subscription starts with this read, so concurrent ones share one query (see concurrentBatch). */
  private readonly lastSeqs = concurrentBatch<{ chatId: string; userId: string }, number | null>(async (pairs) => {
    const rows = await this.sql.query<{ ord: number; last_seq: number }>(
      `SELECT p.ord::int AS ord, c.last_seq FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS p(chat_id, user_id, ord)
       JOIN chat_members cm ON cm.chat_id = p.chat_id AND cm.user_id = p.user_id JOIN chats c ON c.id = p.chat_id`,
      [pairs.map((pair) => pair.chatId), pairs.map((pair) => pair.userId)],
    );
    const found = new Map(rows.map((row) => [row.ord - 1, row.last_seq]));
    return pairs.map((_, i) => found.get(i) ?? null);
  });

  async lastSeq(chatId: string): Promise<number> {
    const rows = await this.sql.query<{ last_seq: number }>('SELECT last_seq FROM chats WHERE id = $1', [chatId]);
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
    editedAt: row.edited_at,
    deletedAt: row.deleted_at,
    revision: row.revision,
    user: { id: row.user_id, firstName: row.user_first_name, email: row.user_email, createdAt: row.user_created_at },
  };
}
