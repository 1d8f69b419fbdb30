import { Column, Entity, PrimaryColumn } from 'typeorm';
import { ChatRole } from './chat-role';

@Entity({ name: 'chat_members' })
export class ChatMemberEntity {
  @PrimaryColumn({ name: 'chat_id', type: 'uuid' })
  chatId!: string;

  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId!: string;

  @Column({ name: 'joined_at', type: 'timestamptz', default: () => 'now()' })
  joinedAt!: Date;

  @Column({ type: 'text', default: ChatRole.MEMBER })
  role!: ChatRole;

  /** seq of the newest message the member has read; only ever moves forward. */
  @Column({ name: 'last_read_seq', type: 'integer', default: 0 })
  lastReadSeq!: number;
}
