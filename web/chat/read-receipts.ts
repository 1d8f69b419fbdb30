/** Where each member of the open chat has read up to, for "Seen by Ann, Bob" under the newest message. */
export interface ReadPosition {
  user: { id: string; firstName: string };
  lastReadSeq: number;
}

export class ReadReceipts {
  private readonly positions = new Map<string, ReadPosition>();

  constructor(private readonly viewerId: string) {}

  /** The memberships the chat query answered, and then every readPositions event: positions only move forward. */
  update(positions: readonly ReadPosition[]): boolean {
    let changed = false;
    for (const position of positions) {
      const known = this.positions.get(position.user.id);
      if (known && known.lastReadSeq >= position.lastReadSeq) continue;
      this.positions.set(position.user.id, position);
      changed = true;
    }
    return changed;
  }

  /** Who else has read message `seq`, not counting its author: first names, sorted. */
  seenBy(seq: number, authorId: string): string[] {
    return [...this.positions.values()]
      .filter(({ user, lastReadSeq }) => user.id !== this.viewerId && user.id !== authorId && lastReadSeq >= seq)
      .map(({ user }) => user.firstName)
      .sort((a, b) => a.localeCompare(b));
  }
}
