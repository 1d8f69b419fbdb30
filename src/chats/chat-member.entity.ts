import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'chat_members' })
export class ChatMemberEntity {
  @PrimaryColumn({ name: 'chat_id', type: 'uuid' })
  chatId!: string;

  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId!: string;

  @Column({ name: 'joined_at', type: 'timestamptz', default: () => 'now()' })
  joinedAt!: Date;
}
