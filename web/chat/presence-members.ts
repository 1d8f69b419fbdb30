/**
 * The members panel's model: a chat's presence as the `presence` subscription reports it (a STATE, then DIFFs
 * applied joins before leaves, as Phoenix clients do), summed up as one entry per user.
 */
export interface PresenceMeta {
  ref: string;
  refPrev?: string | null;
  userId: string;
  firstName: string;
  typing: boolean;
}

export interface Presence {
  key: string;
  metas: PresenceMeta[];
}

export interface PresenceEvent {
  kind: 'STATE' | 'DIFF';
  presences: Presence[];
  joins: Presence[];
  leaves: Presence[];
  selfRef?: string | null;
}

export interface Member {
  userId: string;
  firstName: string;
  /** How many connections (tabs, devices) this user has in the chat. */
  devices: number;
  typing: boolean;
}

export class PresenceMembers {
  private readonly metasByUser = new Map<string, PresenceMeta[]>();
  /** The meta this page's own subscription tracks (for `setTyping(ref:)`); a new one after every reconnect. */
  selfRef: string | null = null;

  apply(event: PresenceEvent): void {
    if (event.kind === 'STATE') {
      this.metasByUser.clear();
      for (const presence of event.presences) this.join(presence);
    } else {
      // Joins first: an update is a leave of the old ref and a join of the new one, and the user must not
      // blink out of the list in between.
      for (const presence of event.joins) this.join(presence);
      for (const presence of event.leaves) this.leave(presence);
    }
    if (event.selfRef) this.selfRef = event.selfRef;
  }

  /** One entry per user present, by name. */
  members(): Member[] {
    return [...this.metasByUser.entries()]
      .map(([userId, metas]) => ({
        userId,
        firstName: metas[0].firstName,
        devices: metas.length,
        typing: metas.some((meta) => meta.typing),
      }))
      .sort((a, b) => a.firstName.localeCompare(b.firstName) || a.userId.localeCompare(b.userId));
  }

  private join({ key, metas }: Presence): void {
    const joined = new Set(metas.map((meta) => meta.ref));
    const kept = (this.metasByUser.get(key) ?? []).filter((meta) => !joined.has(meta.ref));
    this.metasByUser.set(key, [...kept, ...metas]);
  }

  private leave({ key, metas }: Presence): void {
    const left = new Set(metas.map((meta) => meta.ref));
    const kept = (this.metasByUser.get(key) ?? []).filter((meta) => !left.has(meta.ref));
    if (kept.length) this.metasByUser.set(key, kept);
    else this.metasByUser.delete(key);
  }
}
