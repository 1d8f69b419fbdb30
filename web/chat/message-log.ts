/**
 * The messages one chat page has shown, by seq: history pages and live events overlap (a resumed subscription
 * replays from `afterSeq`, a retried send comes back live), so each seq is shown once.
 */
export interface ChatMessage {
  id: string;
  seq: number;
  content: string;
  createdAt: string;
  editedAt?: string | null;
  deletedAt?: string | null;
  revision?: number;
  user: { id: string; firstName: string };
}

export class MessageLog {
  private readonly seen = new Set<number>();
  /** The highest seq shown: where a (re)subscription resumes. 0 before any message. */
  newestSeq = 0;

  /** Records the messages not seen before and returns them, oldest first. */
  add(messages: readonly ChatMessage[]): ChatMessage[] {
    const fresh = messages.filter((message) => {
      if (this.seen.has(message.seq)) return false;
      this.seen.add(message.seq);
      return true;
    });
    for (const message of fresh) this.newestSeq = Math.max(this.newestSeq, message.seq);
    return fresh.sort((a, b) => a.seq - b.seq);
  }
}
