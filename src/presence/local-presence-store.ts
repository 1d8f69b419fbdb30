import { EventBus } from '../pubsub/event-bus';
import { topics } from '../pubsub/topics';
import { PresenceSnapshot, StoredMeta } from './presence-meta';
import { LapseResult, PresenceStore, TypingResult } from './presence-store';

let epochs = 0;

/**
 * The single-instance store, used when REDIS_URL is unset: the same operations and diffs as Redis, in memory.
 * Node runs one callback at a time, so each method body is atomic as a Lua script is in Redis.
 */
export class LocalPresenceStore extends PresenceStore {
  /**
   * A chat's entry goes when its last meta leaves; a new entry starts a new epoch, so replicas that knew the
   * old one resync instead of mistaking version 1 for a duplicate.
   */
  private readonly chats = new Map<string, { epoch: string; version: number; metas: Map<string, StoredMeta> }>();

  constructor(private readonly bus: EventBus) {
    super();
  }

  async connect(): Promise<void> {}

  async join(chatId: string, meta: StoredMeta): Promise<number> {
    const chat = this.chat(chatId);
    const old = chat.metas.get(meta.trackKey);
    if (old && JSON.stringify(old) === JSON.stringify(meta)) return chat.version;
    chat.metas.set(meta.trackKey, meta);
    return this.publish(chatId, [meta], old ? [old] : []);
  }

  async leave(chatId: string, _instanceId: string, trackKeys: string[]): Promise<void> {
    const chat = this.chats.get(chatId);
    if (!chat) return;
    const leaves: StoredMeta[] = [];
    for (const key of trackKeys) {
      const meta = chat.metas.get(key);
      if (meta && chat.metas.delete(key)) leaves.push(meta);
    }
    if (leaves.length) this.publish(chatId, [], leaves);
    if (!chat.metas.size) this.chats.delete(chatId);
  }

  async setTyping(
    chatId: string,
    userId: string,
    ref: string | null,
    typing: boolean,
    typingUntil: number,
  ): Promise<TypingResult> {
    const chat = this.chats.get(chatId);
    if (!chat) return { changed: 0, renewed: 0 };
    const version = chat.version + 1;
    const joins: StoredMeta[] = [];
    const leaves: StoredMeta[] = [];
    let renewed = 0;
    for (const [key, meta] of chat.metas) {
      if (meta.userId !== userId || (ref !== null && ref !== key && ref !== meta.ref)) continue;
      if (meta.typing !== typing) {
        const next = {
          ...meta,
          refPrev: meta.ref,
          ref: `${key}.${version}`,
          typing,
          typingUntil: typing ? typingUntil : 0,
        };
        chat.metas.set(key, next);
        leaves.push(meta);
        joins.push(next);
      } else if (typing) {
        chat.metas.set(key, { ...meta, typingUntil });
        renewed++;
      }
    }
    if (joins.length) this.publish(chatId, joins, leaves);
    return { changed: joins.length, renewed };
  }

  async lapse(chatId: string, trackKey: string, now: number): Promise<LapseResult> {
    const chat = this.chats.get(chatId);
    const meta = chat?.metas.get(trackKey);
    if (!chat || !meta?.typing) return { lapsed: false, typingUntil: 0 };
    if (meta.typingUntil > now) return { lapsed: false, typingUntil: meta.typingUntil };
    const next = { ...meta, refPrev: meta.ref, ref: `${trackKey}.${chat.version + 1}`, typing: false, typingUntil: 0 };
    chat.metas.set(trackKey, next);
    this.publish(chatId, [next], [meta]);
    return { lapsed: true, typingUntil: 0 };
  }

  async snapshot(chatId: string): Promise<PresenceSnapshot> {
    const chat = this.chats.get(chatId);
    return {
      epoch: chat?.epoch ?? 'local-empty',
      version: chat?.version ?? 0,
      metas: chat ? [...chat.metas.values()] : [],
    };
  }

  /** One process: its lease never lapses, and it never loses its state. */
  async heartbeat(): Promise<boolean> {
    return true;
  }

  async expiredInstances(): Promise<string[]> {
    return [];
  }

  async liveInstances(): Promise<Set<string>> {
    return new Set();
  }

  async reapOrphans(): Promise<number> {
    return 0;
  }

  /** One process: its own metas are all there is. */
  async reap(instanceId: string): Promise<number> {
    let removed = 0;
    for (const [chatId, chat] of this.chats) {
      const keys = [...chat.metas.values()].filter((m) => m.instanceId === instanceId).map((m) => m.trackKey);
      removed += keys.length;
      await this.leave(chatId, instanceId, keys);
    }
    return removed;
  }

  async owned(
    instanceId: string,
    inChat: (chatId: string) => boolean = () => true,
  ): Promise<{ chatId: string; trackKey: string }[]> {
    return [...this.chats]
      .filter(([chatId]) => inChat(chatId))
      .flatMap(([chatId, chat]) =>
        [...chat.metas.values()]
          .filter((m) => m.instanceId === instanceId)
          .map((m) => ({ chatId, trackKey: m.trackKey })),
      );
  }

  async isHealthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}

  private chat(chatId: string) {
    let chat = this.chats.get(chatId);
    if (!chat) {
      chat = { epoch: `local-${++epochs}`, version: 0, metas: new Map() };
      this.chats.set(chatId, chat);
    }
    return chat;
  }

  /** Bumps the version and publishes synchronously-ordered diffs (the local bus delivers in call order). */
  private publish(chatId: string, joins: StoredMeta[], leaves: StoredMeta[]): number {
    const chat = this.chat(chatId);
    chat.version++;
    void this.bus.publish(topics.presence(chatId), { chatId, epoch: chat.epoch, version: chat.version, joins, leaves });
    return chat.version;
  }
}
