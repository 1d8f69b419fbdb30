import Redis from 'ioredis';
import { topics } from '../pubsub/topics';
import { closeRedis, openRedis, RedisSettings } from '../redis/redis-connection';
import { PresenceSnapshot, StoredMeta } from './presence-meta';
import { LapseResult, PresenceStore, TypingResult } from './presence-store';

/*
 * Keys, each after REDIS_KEY_PREFIX (all changes go through the Lua scripts below, so each is atomic and its diff
 * is published in version order on the chat's presence channel):
 *   presence:{<chat>}:metas    hash  trackKey -> StoredMeta JSON
 *   presence:{<chat>}:version  int   bumped by every change
 *   presence:epoch             string; vanishes when Redis restarts or is flushed, which instances notice
 *   presence:leases            zset  instanceId -> lease expiry (epoch ms)
 *   presence:owned:<inst>      set   "<chat>|<trackKey>" for every meta an instance owns
 * Diffs go to the prefixed topics.presence(chat) channel of the event bus. Every script is given the keys it
 * touches as KEYS; a chat's two keys share a hash tag.
 *
 * The per-chat scripts take KEYS = [metas, version, epoch(, owned)] and ARGV = [channel, chat, ...].
 */
const PUBLISH_DIFF = `
local function publishDiff(version, joins, leaves)
  local epoch = redis.call('GET', KEYS[3]) or ''
  redis.call('PUBLISH', ARGV[1],
    '{"chatId":' .. cjson.encode(ARGV[2]) .. ',"epoch":' .. cjson.encode(epoch) .. ',"version":' .. version ..
    ',"joins":[' .. table.concat(joins, ',') .. '],"leaves":[' .. table.concat(leaves, ',') .. ']}')
end
`;

const JOIN = `${PUBLISH_DIFF}
local chat, key, meta = ARGV[2], ARGV[3], ARGV[4]
local old = redis.call('HGET', KEYS[1], key)
redis.call('SADD', KEYS[4], chat .. '|' .. key)
if old == meta then return tonumber(redis.call('GET', KEYS[2]) or '0') end
redis.call('HSET', KEYS[1], key, meta)
local version = redis.call('INCR', KEYS[2])
local leaves = {}
if old then leaves = { old } end
publishDiff(version, { meta }, leaves)
return version
`;

/** Returns how many of the metas were there to remove. */
const LEAVE = `${PUBLISH_DIFF}
local chat = ARGV[2]
local leaves = {}
for i = 3, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  redis.call('SREM', KEYS[4], chat .. '|' .. ARGV[i])
  if raw then
    redis.call('HDEL', KEYS[1], ARGV[i])
    table.insert(leaves, raw)
  end
end
if #leaves == 0 then return 0 end
publishDiff(redis.call('INCR', KEYS[2]), {}, leaves)
return #leaves
`;

const SET_TYPING = `${PUBLISH_DIFF}
local user, ref, typing, untilMs = ARGV[3], ARGV[4], ARGV[5] == '1', tonumber(ARGV[6])
local all = redis.call('HGETALL', KEYS[1])
local version = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
local joins, leaves, renewed = {}, {}, 0
for i = 1, #all, 2 do
  local key, raw = all[i], all[i + 1]
  local meta = cjson.decode(raw)
  if meta.userId == user and (ref == '' or ref == key or ref == meta.ref) then
    if meta.typing ~= typing then
      table.insert(leaves, raw)
      meta.refPrev = meta.ref
      meta.ref = key .. '.' .. version
      meta.typing = typing
      if typing then meta.typingUntil = untilMs else meta.typingUntil = 0 end
      local encoded = cjson.encode(meta)
      redis.call('HSET', KEYS[1], key, encoded)
      table.insert(joins, encoded)
    elseif typing then
      meta.typingUntil = untilMs
      redis.call('HSET', KEYS[1], key, cjson.encode(meta))
      renewed = renewed + 1
    end
  end
end
if #joins > 0 then
  redis.call('SET', KEYS[2], version)
  publishDiff(version, joins, leaves)
end
return { #joins, renewed }
`;

const LAPSE = `${PUBLISH_DIFF}
local key, now = ARGV[3], tonumber(ARGV[4])
local raw = redis.call('HGET', KEYS[1], key)
if not raw then return { 0, 0 } end
local meta = cjson.decode(raw)
if not meta.typing then return { 0, 0 } end
if meta.typingUntil > now then return { 0, meta.typingUntil } end
local version = redis.call('INCR', KEYS[2])
meta.refPrev = meta.ref
meta.ref = key .. '.' .. version
meta.typing = false
meta.typingUntil = 0
local encoded = cjson.encode(meta)
redis.call('HSET', KEYS[1], key, encoded)
publishDiff(version, { encoded }, { raw })
return { 1, 0 }
`;

/** KEYS = [metas, version, epoch] */
const SNAPSHOT = `
return { redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[2]) or '0', redis.call('HVALS', KEYS[1]) }
`;

/** KEYS = [leases, epoch], ARGV = [instance, lease expiry, candidate epoch] */
const HEARTBEAT = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
return epoch
`;

/**
 * The first half of reaping an instance: KEYS = [leases, owned by it, owned by the reaper], ARGV = [instance,
 * now, force]. Unless forced, nothing happens (nil) while its lease runs. Otherwise its lease goes and what it
 * owned becomes the reaper's, which then removes those metas chat by chat: if the reaper dies half way, its
 * own reaper finishes the job, so no meta is ever left without an owner.
 */
const CLAIM = `
if ARGV[3] ~= '1' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if (not score) or tonumber(score) > tonumber(ARGV[2]) then return false end
end
redis.call('ZREM', KEYS[1], ARGV[1])
local entries = redis.call('SMEMBERS', KEYS[2])
if KEYS[2] ~= KEYS[3] then
  redis.call('SUNIONSTORE', KEYS[3], KEYS[3], KEYS[2])
  redis.call('DEL', KEYS[2])
end
return entries
`;

type ScriptName = 'join' | 'leave' | 'setTyping' | 'lapse' | 'snapshot' | 'heartbeat' | 'claim';

const SCRIPTS: Record<ScriptName, { lua: string; keys: number }> = {
  join: { lua: JOIN, keys: 4 },
  leave: { lua: LEAVE, keys: 4 },
  setTyping: { lua: SET_TYPING, keys: 3 },
  lapse: { lua: LAPSE, keys: 3 },
  snapshot: { lua: SNAPSHOT, keys: 3 },
  heartbeat: { lua: HEARTBEAT, keys: 2 },
  claim: { lua: CLAIM, keys: 3 },
};

/** PresenceStore on Redis: its own command connection, beside the bus's publisher and subscriber. */
export class RedisPresenceStore extends PresenceStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(
    settings: RedisSettings,
    private readonly instanceId: string,
  ) {
    super();
    this.prefix = settings.keyPrefix;
    this.redis = openRedis(settings, instanceId, 'presence', {
      maxRetriesPerRequest: 1,
      // While Redis is away, fail fast instead of queueing: the service reconciles when it is back.
      enableOfflineQueue: false,
    });
    for (const [name, { lua, keys }] of Object.entries(SCRIPTS)) {
      this.redis.defineCommand(name, { numberOfKeys: keys, lua });
    }
  }

  async connect(timeoutMs: number): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async join(chatId: string, meta: StoredMeta): Promise<number> {
    return Number(
      await this.run(
        'join',
        [...this.chatKeys(chatId), this.ownedKey(meta.instanceId)],
        [...this.chatArgs(chatId), meta.trackKey, JSON.stringify(meta)],
      ),
    );
  }

  async leave(chatId: string, instanceId: string, trackKeys: string[]): Promise<void> {
    await this.leaveCounting(chatId, instanceId, trackKeys);
  }

  async setTyping(
    chatId: string,
    userId: string,
    ref: string | null,
    typing: boolean,
    typingUntil: number,
  ): Promise<TypingResult> {
    const [changed, renewed] = (await this.run('setTyping', this.chatKeys(chatId), [
      ...this.chatArgs(chatId),
      userId,
      ref ?? '',
      typing ? '1' : '0',
      String(typingUntil),
    ])) as [number, number];
    return { changed, renewed };
  }

  async lapse(chatId: string, trackKey: string, now: number): Promise<LapseResult> {
    const [lapsed, typingUntil] = (await this.run('lapse', this.chatKeys(chatId), [
      ...this.chatArgs(chatId),
      trackKey,
      String(now),
    ])) as [number, number];
    return { lapsed: lapsed === 1, typingUntil };
  }

  async snapshot(chatId: string): Promise<PresenceSnapshot> {
    const [epoch, version, metas] = (await this.run('snapshot', this.chatKeys(chatId), [])) as [
      string,
      string,
      string[],
    ];
    return { epoch, version: Number(version), metas: metas.map((raw) => JSON.parse(raw) as StoredMeta) };
  }

  async heartbeat(instanceId: string, leaseExpiresAt: number, candidateEpoch: string): Promise<string> {
    return String(
      await this.run(
        'heartbeat',
        [this.key('leases'), this.key('epoch')],
        [instanceId, String(leaseExpiresAt), candidateEpoch],
      ),
    );
  }

  async expiredInstances(now: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.key('leases'), '-inf', now, 'LIMIT', 0, 50);
  }

  async reap(instanceId: string, now: number, force: boolean): Promise<number> {
    const claimed = (await this.run(
      'claim',
      [this.key('leases'), this.ownedKey(instanceId), this.ownedKey(this.instanceId)],
      [instanceId, String(now), force ? '1' : '0'],
    )) as string[] | null;
    if (!claimed) return -1;
    const removed = await Promise.all(
      [...groupByChat(claimed)].map(([chatId, keys]) => this.leaveCounting(chatId, this.instanceId, keys)),
    );
    return removed.reduce((sum, count) => sum + count, 0);
  }

  async owned(instanceId: string): Promise<{ chatId: string; trackKey: string }[]> {
    const entries = await this.redis.smembers(this.ownedKey(instanceId));
    return [...groupByChat(entries)].flatMap(([chatId, keys]) => keys.map((trackKey) => ({ chatId, trackKey })));
  }

  async isHealthy(): Promise<boolean> {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }

  private async leaveCounting(chatId: string, instanceId: string, trackKeys: string[]): Promise<number> {
    if (!trackKeys.length) return 0;
    const keys = [...this.chatKeys(chatId), this.ownedKey(instanceId)];
    return Number(await this.run('leave', keys, [...this.chatArgs(chatId), ...trackKeys]));
  }

  private key(name: string): string {
    return `${this.prefix}presence:${name}`;
  }

  private ownedKey(instanceId: string): string {
    return this.key(`owned:${instanceId}`);
  }

  /** [metas, version, epoch] */
  private chatKeys(chatId: string): string[] {
    return [this.key(`{${chatId}}:metas`), this.key(`{${chatId}}:version`), this.key('epoch')];
  }

  /** [channel, chat] */
  private chatArgs(chatId: string): string[] {
    return [this.prefix + topics.presence(chatId), chatId];
  }

  private run(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<ScriptName, (...a: string[]) => Promise<unknown>>)[name];
    return command.apply(this.redis, [...keys, ...args]);
  }
}

/** "<chat>|<trackKey>" entries of an owned set, grouped by chat. */
function groupByChat(entries: string[]): Map<string, string[]> {
  const byChat = new Map<string, string[]>();
  for (const entry of entries) {
    const sep = entry.indexOf('|');
    const chatId = entry.slice(0, sep);
    const keys = byChat.get(chatId);
    if (keys) keys.push(entry.slice(sep + 1));
    else byChat.set(chatId, [entry.slice(sep + 1)]);
  }
  return byChat;
}
