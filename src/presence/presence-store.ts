import { PresenceSnapshot, StoredMeta } from './presence-meta';

export interface TypingResult {
  /** metas whose value changed (each published as leave + join, all in one diff) */
  changed: number;
  /** metas already at `typing: true` whose lapse time was pushed back (nothing published) */
  renewed: number;
}

export interface LapseResult {
  lapsed: boolean;
  /** When not lapsed and still typing: the renewed lapse time, to check again then. */
  typingUntil: number;
}

/**
 * The shared presence state and every atomic change to it. Each change bumps the chat's version and
 * publishes one PresenceDiff on `topics.presence(chatId)`. Redis when REDIS_URL is set, in process otherwise.
 */
export abstract class PresenceStore {
  /** Resolves when the store can take commands, or after `timeoutMs` (callers then retry on their own). */
  abstract connect(timeoutMs: number): Promise<void>;
  /** Adds (or re-asserts) a meta owned by `meta.instanceId`; returns the version that includes it. */
  abstract join(chatId: string, meta: StoredMeta): Promise<number>;
  /** Removes metas by trackKey; unknown keys are ignored. */
  abstract leave(chatId: string, instanceId: string, trackKeys: string[]): Promise<void>;
  /** Sets typing on the user's metas in the chat (all, or the one `ref` names by trackKey or current ref). */
  abstract setTyping(
    chatId: string,
    userId: string,
    ref: string | null,
    typing: boolean,
    typingUntil: number,
  ): Promise<TypingResult>;
  /** Turns typing off on one meta if its lapse time has passed. */
  abstract lapse(chatId: string, trackKey: string, now: number): Promise<LapseResult>;
  abstract snapshot(chatId: string): Promise<PresenceSnapshot>;
  /**
   * Renews this instance's lease. False when there was no lease to renew: the first time, or after the instance
   * was reaped (it could not renew in time) or the store lost its state; the instance then asserts its metas again.
   */
  abstract heartbeat(instanceId: string, leaseExpiresAt: number): Promise<boolean>;
  /** Instances whose lease ran out before `now`. */
  abstract expiredInstances(now: number): Promise<string[]>;
  /** Instances whose lease runs past `now`. */
  abstract liveInstances(now: number): Promise<Set<string>>;
  /**
   * Removes every meta an instance owns and publishes the leaves, if its lease has expired (or `force`).
   * Atomic: when several instances race to reap, one does it. Returns the number of metas removed, or -1
   * when the instance turned out to be alive.
   */
  abstract reap(instanceId: string, now: number, force: boolean): Promise<number>;
  /**
   * Removes the metas that instances without any lease left in a chat (a reap that a failover undid, say),
   * checking each lease at that moment. Returns how many went.
   */
  abstract reapOrphans(chatId: string, instanceIds: string[]): Promise<number>;
  /** The (chatId, trackKey) pairs the store records for an instance (in the chats `inChat` accepts). */
  abstract owned(
    instanceId: string,
    inChat?: (chatId: string) => boolean,
  ): Promise<{ chatId: string; trackKey: string }[]>;
  abstract isHealthy(): Promise<boolean>;
  abstract close(): Promise<void>;
}
