import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Direct chats, one per pair of people; and an owner in every chat that has members: when an owner's membership
 * goes, however it goes (leaving, removal, a deleted account), the longest-standing member takes over.
 */
export class RolesDirect1765238400000 implements MigrationInterface {
  name = 'RolesDirect1765238400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE chats
        ADD COLUMN is_direct boolean NOT NULL DEFAULT false,
        ADD COLUMN direct_key text,
        ADD CONSTRAINT chats_direct_key UNIQUE (direct_key)`);
    await q.query(`
      CREATE FUNCTION chat_members_hand_over() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE chat_members SET role = 'OWNER'
        WHERE (chat_id, user_id) = (
          SELECT chat_id, user_id FROM chat_members WHERE chat_id = OLD.chat_id ORDER BY joined_at, user_id LIMIT 1
        );
        RETURN OLD;
      END $$`);
    await q.query(`
      CREATE TRIGGER chat_members_owner_left AFTER DELETE ON chat_members
      FOR EACH ROW WHEN (OLD.role = 'OWNER') EXECUTE FUNCTION chat_members_hand_over()`);
    // Chats whose creator left before owners were kept: the longest-standing member owns them.
    await q.query(`
      UPDATE chat_members cm SET role = 'OWNER'
      FROM (
        SELECT DISTINCT ON (m.chat_id) m.chat_id, m.user_id FROM chat_members m
        WHERE NOT EXISTS (SELECT 1 FROM chat_members o WHERE o.chat_id = m.chat_id AND o.role = 'OWNER')
        ORDER BY m.chat_id, m.joined_at, m.user_id
      ) heir
      WHERE cm.chat_id = heir.chat_id AND cm.user_id = heir.user_id`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER chat_members_owner_left ON chat_members');
    await q.query('DROP FUNCTION chat_members_hand_over()');
    await q.query('ALTER TABLE chats DROP COLUMN direct_key, DROP COLUMN is_direct');
  }
}
