import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Edits and deletes: each takes its chat's next revision (1, 2, 3, … per chat, in commit order, without gaps),
 * and a message carries the revision of its newest change, so a client resumes changes as it resumes seq.
 */
export class MessageRevisions1765324800000 implements MigrationInterface {
  name = 'MessageRevisions1765324800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE chats ADD COLUMN last_revision integer NOT NULL DEFAULT 0');
    await q.query(`
      ALTER TABLE messages
        ADD COLUMN edited_at timestamptz,
        ADD COLUMN deleted_at timestamptz,
        ADD COLUMN revision integer NOT NULL DEFAULT 0`);
    // messageChanged reads a chat's changed messages in revision order.
    await q.query('CREATE INDEX messages_chat_revision_idx ON messages (chat_id, revision) WHERE revision > 0');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX messages_chat_revision_idx');
    await q.query('ALTER TABLE messages DROP COLUMN revision, DROP COLUMN deleted_at, DROP COLUMN edited_at');
    await q.query('ALTER TABLE chats DROP COLUMN last_revision');
  }
}
