/**
 * Presence data as it is stored and carried on the bus. A meta is one tracked connection of one user in one
 * chat; `trackKey` names it for its whole life (it is also its first ref, the subscription's selfRef), while
 * `ref` changes with every update, as Phoenix's phx_ref does.
 */
export interface StoredMeta {
  trackKey: string;
  ref: string;
  refPrev: string | null;
  userId: string;
  firstName: string;
  email: string;
  typing: boolean;
  /** Epoch ms when `typing: true` lapses; 0 when not typing. */
  typingUntil: number;
  onlineAt: string;
  /** The instance whose connection this meta is: the one that removes it. */
  instanceId: string;
}

/** One atomic change to a chat's presence, numbered by the chat's version within a store epoch. */
export interface PresenceDiff {
  chatId: string;
  epoch: string;
  version: number;
  joins: StoredMeta[];
  leaves: StoredMeta[];
}

export interface PresenceSnapshot {
  epoch: string;
  version: number;
  metas: StoredMeta[];
}

/** A meta as clients see it. */
export interface PublicMeta {
  ref: string;
  refPrev: string | null;
  userId: string;
  firstName: string;
  email: string;
  typing: boolean;
  onlineAt: Date;
}

export interface PresenceGroup {
  key: string;
  metas: PublicMeta[];
}

/** Groups metas under their user (Phoenix's presence key), users and metas in a stable order. */
export function groupByUser(metas: Iterable<StoredMeta>): PresenceGroup[] {
  return sortedGroups(metas).map(([key, list]) => ({ key, metas: list.map(toPublic) }));
}

function toPublic(meta: StoredMeta): PublicMeta {
  const { ref, refPrev, userId, firstName, email, typing } = meta;
  return { ref, refPrev, userId, firstName, email, typing, onlineAt: new Date(meta.onlineAt) };
}

function sortedGroups(metas: Iterable<StoredMeta>): [string, StoredMeta[]][] {
  const byUser = new Map<string, StoredMeta[]>();
  for (const meta of metas) {
    const list = byUser.get(meta.userId);
    if (list) list.push(meta);
    else byUser.set(meta.userId, [meta]);
  }
  for (const list of byUser.values()) {
    list.sort((a, b) => a.onlineAt.localeCompare(b.onlineAt) || a.trackKey.localeCompare(b.trackKey));
  }
  return [...byUser.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
