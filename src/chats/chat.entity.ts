import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'chats' })
export class ChatEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'room_name', type: 'text' })
  roomName!: string;

  @Column({ name: 'is_private', type: 'boolean' })
  isPrivate!: boolean;

  @Column({ name: 'created_by', type: 'uuid' })
  createdBy!: string;

  /** Made by directChat: private, exactly its two people, never renamed. */
  @Column({ name: 'is_direct', type: 'boolean', default: false })
  isDirect!: boolean;

  /** The pair a direct chat is for, `<smaller id>:<larger id>`; unique, so each pair has one. */
  @Column({ name: 'direct_key', type: 'text', nullable: true, select: false })
  directKey?: string | null;

  /** seq of the newest message; bumped in the same transaction that inserts it. */
  @Column({ name: 'last_seq', type: 'integer' })
  lastSeq!: number;

  /** Revision of the newest edit or delete of one of its messages; bumped in the transaction that makes it. */
  @Column({ name: 'last_revision', type: 'integer', default: 0 })
  lastRevision!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
