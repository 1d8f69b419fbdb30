import { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1764230400000 implements MigrationInterface {
  name = 'InitialSchema1764230400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL,
        first_name text NOT NULL,
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT users_email_key UNIQUE (email)
      )`);
    await q.query(`
      CREATE TABLE chats (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        room_name text NOT NULL,
        is_private boolean NOT NULL DEFAULT false,
        created_by uuid NOT NULL REFERENCES users (id),
        last_seq integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    // publicChats lists public chats newest first.
    await q.query(`CREATE INDEX chats_public_created_idx ON chats (created_at DESC, id) WHERE NOT is_private`);
    await q.query(`
      CREATE TABLE chat_members (
        chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        joined_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (chat_id, user_id)
      )`);
    // "chats the viewer is a member of" reads by user.
    await q.query(`CREATE INDEX chat_members_user_idx ON chat_members (user_id, chat_id)`);
    await q.query(`
      CREATE TABLE messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
        seq integer NOT NULL,
        user_id uuid NOT NULL REFERENCES users (id),
        content text NOT NULL,
        client_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT messages_chat_seq_key UNIQUE (chat_id, seq),
        CONSTRAINT messages_chat_user_client_key UNIQUE (chat_id, user_id, client_id)
      )`);
    await q.query(`CREATE INDEX messages_user_idx ON messages (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE messages');
    await q.query('DROP TABLE chat_members');
    await q.query('DROP TABLE chats');
    await q.query('DROP TABLE users');
  }
}
