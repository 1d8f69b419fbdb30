/** A message with its author, as services and resolvers pass it around. */
export interface MessageRecord {
  id: string;
  chatId: string;
  seq: number;
  content: string;
  clientId: string | null;
  createdAt: Date;
  editedAt: Date | null;
  deletedAt: Date | null;
  revision: number;
  user: { id: string; firstName: string; email: string; createdAt: Date };
}
