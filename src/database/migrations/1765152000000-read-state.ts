import { MigrationInterface, QueryRunner } from 'typeorm';

/** Each member's read position, and a role: the creator owns the chat. */
export class ReadState1765152000000 implements MigrationInterface {
  name = 'ReadState1765152000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE chat_members
        ADD COLUMN last_read_seq integer NOT NULL DEFAULT 0,
        ADD COLUMN role text NOT NULL DEFAULT 'MEMBER' CHECK (role IN ('OWNER', 'MEMBER'))`);
    await q.query(`
      UPDATE chat_members cm SET role = 'OWNER' FROM chats c WHERE c.id = cm.chat_id AND c.created_by = cm.user_id`);
    // What each member sent, they have read.
    await q.query(`
      UPDATE chat_members cm SET last_read_seq = own.seq
      FROM (SELECT chat_id, user_id, max(seq) AS seq FROM messages GROUP BY chat_id, user_id) own
      WHERE cm.chat_id = own.chat_id AND cm.user_id = own.user_id`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE chat_members DROP COLUMN last_read_seq, DROP COLUMN role');
  }
}
