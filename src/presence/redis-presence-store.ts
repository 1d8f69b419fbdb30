import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { PresenceSnapshot, StoredMeta } from './presence-meta';
import { LapseResult, PresenceStore, TypingResult } from './presence-store';

/*
 * Keys (all changes go through the Lua scripts below, so each is atomic and its diff is published in version
 * order on the chat's presence channel):
 *   presence:<chat>:metas    hash  trackKey -> StoredMeta JSON
 *   presence:<chat>:version  int   bumped by every change
 *   presence:epoch           string; vanishes when Redis restarts or is flushed, which instances notice
 *   presence:leases          zset  instanceId -> lease expiry (epoch ms)
 *   presence:owned:<inst>    set   "<chat>|<trackKey>" for every meta an instance owns
 * Diffs go to 'chat.<chat>.presence', which is topics.presence(chat) on the event bus.
 * Key names are built inside the scripts: fine on one Redis, not on Redis Cluster.
 */
const COMMON = `
local function metasKey(chat) return 'presence:' .. chat .. ':metas' end
local function versionKey(chat) return 'presence:' .. chat .. ':version' end
local function publishDiff(chat, version, joins, leaves)
  local epoch = redis.call('GET', 'presence:epoch') or ''
  redis.call('PUBLISH', 'chat.' .. chat .. '.presence',
    '{"chatId":' .. cjson.encode(chat) .. ',"epoch":' .. cjson.encode(epoch) .. ',"version":' .. version ..
    ',"joins":[' .. table.concat(joins, ',') .. '],"leaves":[' .. table.concat(leaves, ',') .. ']}')
end
`;

const JOIN = `${COMMON}
local chat, key, meta, inst = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local old = redis.call('HGET', metasKey(chat), key)
redis.call('SADD', 'presence:owned:' .. inst, chat .. '|' .. key)
if old == meta then return tonumber(redis.call('GET', versionKey(chat)) or '0') end
redis.call('HSET', metasKey(chat), key, meta)
local version = redis.call('INCR', versionKey(chat))
local leaves = {}
if old then leaves = { old } end
publishDiff(chat, version, { meta }, leaves)
return version
`;

const LEAVE = `${COMMON}
local chat, inst = ARGV[1], ARGV[2]
local leaves = {}
for i = 3, #ARGV do
  local raw = redis.call('HGET', metasKey(chat), ARGV[i])
  redis.call('SREM', 'presence:owned:' .. inst, chat .. '|' .. ARGV[i])
  if raw then
    redis.call('HDEL', metasKey(chat), ARGV[i])
    table.insert(leaves, raw)
  end
end
if #leaves == 0 then return 0 end
local version = redis.call('INCR', versionKey(chat))
publishDiff(chat, version, {}, leaves)
return version
`;

const SET_TYPING = `${COMMON}
local chat, user, ref, typing, untilMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', tonumber(ARGV[5])
local all = redis.call('HGETALL', metasKey(chat))
local version = tonumber(redis.call('GET', versionKey(chat)) or '0') + 1
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
      redis.call('HSET', metasKey(chat), key, encoded)
      table.insert(joins, encoded)
    elseif typing then
      meta.typingUntil = untilMs
      redis.call('HSET', metasKey(chat), key, cjson.encode(meta))
      renewed = renewed + 1
    end
  end
end
if #joins > 0 then
  redis.call('SET', versionKey(chat), version)
  publishDiff(chat, version, joins, leaves)
end
return { #joins, renewed }
`;

const LAPSE = `${COMMON}
local chat, key, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local raw = redis.call('HGET', metasKey(chat), key)
if not raw then return { 0, 0 } end
local meta = cjson.decode(raw)
if not meta.typing then return { 0, 0 } end
if meta.typingUntil > now then return { 0, meta.typingUntil } end
local version = redis.call('INCR', versionKey(chat))
meta.refPrev = meta.ref
meta.ref = key .. '.' .. version
meta.typing = false
meta.typingUntil = 0
local encoded = cjson.encode(meta)
redis.call('HSET', metasKey(chat), key, encoded)
publishDiff(chat, version, { encoded }, { raw })
return { 1, 0 }
`;

const SNAPSHOT = `
local chat = ARGV[1]
return { redis.call('GET', 'presence:epoch') or '', redis.call('GET', 'presence:' .. chat .. ':version') or '0',
  redis.call('HVALS', 'presence:' .. chat .. ':metas') }
`;

const HEARTBEAT = `
redis.call('ZADD', 'presence:leases', ARGV[2], ARGV[1])
local epoch = redis.call('GET', 'presence:epoch')
if not epoch then
  redis.call('SET', 'presence:epoch', ARGV[3])
  epoch = ARGV[3]
end
return epoch
`;

const REAP = `${COMMON}
local inst, now, force = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
if not force then
  local score = redis.call('ZSCORE', 'presence:leases', inst)
  if (not score) or tonumber(score) > now then return -1 end
end
redis.call('ZREM', 'presence:leases', inst)
local ownedKey = 'presence:owned:' .. inst
local byChat, chats = {}, {}
for _, entry in ipairs(redis.call('SMEMBERS', ownedKey)) do
  local sep = string.find(entry, '|', 1, true)
  local chat, key = string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
  if not byChat[chat] then byChat[chat] = {}; table.insert(chats, chat) end
  table.insert(byChat[chat], key)
end
local removed = 0
for _, chat in ipairs(chats) do
  local leaves = {}
  for _, key in ipairs(byChat[chat]) do
    local raw = redis.call('HGET', metasKey(chat), key)
    if raw then
      redis.call('HDEL', metasKey(chat), key)
      table.insert(leaves, raw)
    end
  end
  if #leaves > 0 then
    publishDiff(chat, redis.call('INCR', versionKey(chat)), {}, leaves)
    removed = removed + #leaves
  end
end
redis.call('DEL', ownedKey)
return removed
`;

type ScriptName = 'join' | 'leave' | 'setTyping' | 'lapse' | 'snapshot' | 'heartbeat' | 'reap';

/** PresenceStore on Redis: its own command connection, beside the bus's publisher and subscriber. */
export class RedisPresenceStore extends PresenceStore {
  private readonly logger = new Logger(RedisPresenceStore.name);
  private readonly redis: Redis;
  private closing = false;

  constructor(url: string, instanceId: string) {
    super();
    this.redis = new Redis(url, {
      connectionName: `${instanceId}:presence`,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
      maxRetriesPerRequest: 1,
      // While Redis is away, fail fast instead of queueing: the service reconciles when it is back.
      enableOfflineQueue: false,
    });
    this.redis.on('error', (error: Error) => {
      if (!this.closing) this.logger.warn(`redis presence: ${error.message}`);
    });
    const scripts: Record<ScriptName, string> = {
      join: JOIN,
      leave: LEAVE,
      setTyping: SET_TYPING,
      lapse: LAPSE,
      snapshot: SNAPSHOT,
      heartbeat: HEARTBEAT,
      reap: REAP,
    };
    for (const [name, lua] of Object.entries(scripts)) this.redis.defineCommand(name, { numberOfKeys: 0, lua });
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
    return Number(await this.run('join', chatId, meta.trackKey, JSON.stringify(meta), meta.instanceId));
  }

  async leave(chatId: string, instanceId: string, trackKeys: string[]): Promise<void> {
    if (trackKeys.length) await this.run('leave', chatId, instanceId, ...trackKeys);
  }

  async setTyping(
    chatId: string,
    userId: string,
    ref: string | null,
    typing: boolean,
    typingUntil: number,
  ): Promise<TypingResult> {
    const [changed, renewed] = (await this.run(
      'setTyping',
      chatId,
      userId,
      ref ?? '',
      typing ? '1' : '0',
      String(typingUntil),
    )) as [number, number];
    return { changed, renewed };
  }

  async lapse(chatId: string, trackKey: string, now: number): Promise<LapseResult> {
    const [lapsed, typingUntil] = (await this.run('lapse', chatId, trackKey, String(now))) as [number, number];
    return { lapsed: lapsed === 1, typingUntil };
  }

  async snapshot(chatId: string): Promise<PresenceSnapshot> {
    const [epoch, version, metas] = (await this.run('snapshot', chatId)) as [string, string, string[]];
    return { epoch, version: Number(version), metas: metas.map((raw) => JSON.parse(raw) as StoredMeta) };
  }

  async heartbeat(instanceId: string, leaseExpiresAt: number, candidateEpoch: string): Promise<string> {
    return String(await this.run('heartbeat', instanceId, String(leaseExpiresAt), candidateEpoch));
  }

  async expiredInstances(now: number): Promise<string[]> {
    return this.redis.zrangebyscore('presence:leases', '-inf', now, 'LIMIT', 0, 50);
  }

  async reap(instanceId: string, now: number, force: boolean): Promise<number> {
    return Number(await this.run('reap', instanceId, String(now), force ? '1' : '0'));
  }

  async owned(instanceId: string): Promise<{ chatId: string; trackKey: string }[]> {
    const entries = await this.redis.smembers(`presence:owned:${instanceId}`);
    return entries.map((entry) => {
      const sep = entry.indexOf('|');
      return { chatId: entry.slice(0, sep), trackKey: entry.slice(sep + 1) };
    });
  }

  async isHealthy(): Promise<boolean> {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private run(name: ScriptName, ...args: string[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<ScriptName, (...a: string[]) => Promise<unknown>>)[name];
    return command.apply(this.redis, args);
  }
}
