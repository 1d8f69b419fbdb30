import { PresenceDiff, PresenceSnapshot, StoredMeta } from './presence-meta';

export type ApplyResult = 'applied' | 'duplicate' | 'gap';

export interface PresenceChange {
  joins: StoredMeta[];
  leaves: StoredMeta[];
}

/**
 * One chat's presence replica: a snapshot plus the diffs after it, by version (DESIGN.md, "Presence").
 * A diff at version + 1 applies; an older or repeated one is a duplicate; a newer one, or one from another
 * store epoch (Redis restarted or was flushed), is a gap that the owner answers with a fresh snapshot.
 * Metas are keyed by trackKey in a Map, so no client-chosen string can collide with object internals.
 */
export class PresenceState {
  private epoch: string | null = null;
  private currentVersion = 0;
  private readonly metas = new Map<string, StoredMeta>();

  get version(): number {
    return this.currentVersion;
  }

  get storeEpoch(): string | null {
    return this.epoch;
  }

  list(): StoredMeta[] {
    return [...this.metas.values()];
  }

  /** Replaces the state with a snapshot; returns what changed, as one diff for local subscribers. */
  reset(snapshot: PresenceSnapshot): PresenceChange {
    const next = new Map(snapshot.metas.map((meta) => [meta.trackKey, meta]));
    const leaves = [...this.metas.values()].filter((meta) => next.get(meta.trackKey)?.ref !== meta.ref);
    const joins = [...next.values()].filter((meta) => this.metas.get(meta.trackKey)?.ref !== meta.ref);
    this.metas.clear();
    for (const [key, meta] of next) this.metas.set(key, meta);
    this.epoch = snapshot.epoch;
    this.currentVersion = snapshot.version;
    return { joins, leaves };
  }

  apply(diff: PresenceDiff): ApplyResult {
    if (this.epoch === null || diff.epoch !== this.epoch) return 'gap';
    if (diff.version <= this.currentVersion) return 'duplicate';
    if (diff.version !== this.currentVersion + 1) return 'gap';
    // Leaves first: an update leaves the old meta and joins the new one under the same trackKey.
    for (const meta of diff.leaves) {
      if (this.metas.get(meta.trackKey)?.ref === meta.ref) this.metas.delete(meta.trackKey);
    }
    for (const meta of diff.joins) this.metas.set(meta.trackKey, meta);
    this.currentVersion = diff.version;
    return 'applied';
  }
}
