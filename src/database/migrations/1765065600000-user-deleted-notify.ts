import { MigrationInterface, QueryRunner } from 'typeorm';

/** Every deleted account is announced on `user_deleted`, so each instance drops what it knows of it at once. */
export class UserDeletedNotify1765065600000 implements MigrationInterface {
  name = 'UserDeletedNotify1765065600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION notify_user_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('user_deleted', OLD.id::text);
        RETURN OLD;
      END $$`);
    await q.query(`
      CREATE TRIGGER users_notify_deleted AFTER DELETE ON users
      FOR EACH ROW EXECUTE FUNCTION notify_user_deleted()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER users_notify_deleted ON users');
    await q.query('DROP FUNCTION notify_user_deleted()');
  }
}
