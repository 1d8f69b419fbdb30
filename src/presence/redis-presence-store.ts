import { randomBytes } from 'node:crypto';
import { topics } from '../pubsub/topics';
import { closeRedis, isCluster, openRedis, RedisClient, RedisSettings } from '../redis/redis-connection';
import { PresenceSnapshot, StoredMeta } from './presence-meta';
import { LapseResult, PresenceStore, TypingResult } from './presence-store';

/*
 * Keys, each after REDIS_KEY_PREFIX. A chat's keys share the hash tag {<chat>} with its bus topics, so on a
 * Redis Cluster every per-chat script, and the diff it publishes, stays on one shard:
 *   presence:{<chat>}:metas          hash  trackKey -> StoredMeta JSON
 *   presence:{<chat>}:version        int   bumped by every change
 *   presence:{<chat>}:epoch          string; a new one whenever the chat's state starts afresh (its last meta
 *                                    left, or a shard lost it), so replicas tell a new count from an old one
 *   presence:{<chat>}:owned:<inst>   set   the trackKeys of the chat's metas that an instance owns
 * The instances' own keys share the hash tag {instances}:
 *   presence:{instances}:leases          zset  instanceId -> lease expiry (epoch ms)
 *   presence:{instances}:chats:<inst>    set   the chats an instance has (or had) metas in
 *   presence:{instances}:reaping:<inst>  set   "<instance>|<chat>" that a reaper has claimed and not yet cleared
 * All changes go through the Lua scripts below, each given every key it touches as KEYS, so each is atomic and
 * its diff is published in version order on the chat's channel (SPUBLISH on a cluster).
 *
 * The per-chat scripts take KEYS = [metas, version, epoch(, owned)] and
 * ARGV = [publish command, channel, chat, epoch to start if there is none, ...].
 */

/** How long a presence command may go unanswered before it fails, rather than hold its caller. */
const COMMAND_TIMEOUT_MS = 2000;

const CHAT_CHANGE = `
local function epochOf()
  local epoch = redis.call('GET', KEYS[3])
  if not epoch then
    epoch = ARGV[4]
    redis.call('SET', KEYS[3], epoch)
  end
  return epoch
end
local function publishDiff(version, joins, leaves)
  redis.call(ARGV[1], ARGV[2],
    '{"chatId":' .. cjson.encode(ARGV[3]) .. ',"epoch":' .. cjson.encode(epochOf()) .. ',"version":' .. version ..
    ',"joins":[' .. table.concat(joins, ',') .. '],"leaves":[' .. table.concat(leaves, ',') .. ']}')
end
-- Removes metas by trackKey (and from the owner's set), publishes the leaves, and when the chat is empty lets
-- its version and epoch go with it. Returns how many were there.
local function removeMetas(keys)
  local leaves = {}
  for _, key in ipairs(keys) do
    local raw = redis.call('HGET', KEYS[1], key)
    redis.call('SREM', KEYS[4], key)
    if raw then
      redis.call('HDEL', KEYS[1], key)
      table.insert(leaves, raw)
    end
  end
  if #leaves == 0 then return 0 end
  publishDiff(redis.call('INCR', KEYS[2]), {}, leaves)
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
  return #leaves
end
`;

const JOIN = `${CHAT_CHANGE}
local key, meta = ARGV[5], ARGV[6]
local old = redis.call('HGET', KEYS[1], key)
redis.call('SADD', KEYS[4], key)
if old == meta then return tonumber(redis.call('GET', KEYS[2]) or '0') end
redis.call('HSET', KEYS[1], key, meta)
local version = redis.call('INCR', KEYS[2])
local leaves = {}
if old then leaves = { old } end
publishDiff(version, { meta }, leaves)
return version
`;

/** Returns { metas removed, metas the instance still owns in the chat }. */
const LEAVE = `${CHAT_CHANGE}
local removed = removeMetas({ unpack(ARGV, 5) })
return { removed, redis.call('SCARD', KEYS[4]) }
`;

/** Removes every meta an instance owns in the chat; returns how many. */
const CLEAR_OWNER = `${CHAT_CHANGE}
local removed = removeMetas(redis.call('SMEMBERS', KEYS[4]))
redis.call('DEL', KEYS[4])
return removed
`;

const SET_TYPING = `${CHAT_CHANGE}
local user, ref, typing, untilMs = ARGV[5], ARGV[6], ARGV[7] == '1', tonumber(ARGV[8])
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

const LAPSE = `${CHAT_CHANGE}
local key, now = ARGV[5], tonumber(ARGV[6])
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

/** KEYS = [metas, version, epoch]. An empty chat has no epoch yet (''): its first join starts one. */
const SNAPSHOT = `
return { redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[2]) or '0', redis.call('HVALS', KEYS[1]) }
`;

/**
 * KEYS = [leases], ARGV = [instance, lease expiry]. Returns 1 if the lease was there to renew, 0 if it was gone
 * (reaped while this instance could not renew it, or Redis lost it): the instance then asserts its metas again.
 */
const HEARTBEAT = `
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if held then return 1 end
return 0
`;

/**
 * The first half of reaping an instance: KEYS = [leases, its chats, its reaping, the reaper's reaping],
 * ARGV = [instance, now, force]. Unless forced, nothing happens (nil) while its lease runs. Otherwise its lease
 * goes, and its chats, with any reaping it had claimed and not finished, become the reaper's work, returned as
 * "<instance>|<chat>" entries. The reaper clears them chat by chat (CLEAR_OWNER), each on its chat's shard,
 * and drops each entry when done: if it dies half way, its own reaper takes over what is left.
 */
const CLAIM = `
if ARGV[3] ~= '1' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if (not score) or tonumber(score) > tonumber(ARGV[2]) then return false end
end
redis.call('ZREM', KEYS[1], ARGV[1])
for _, chat in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('SADD', KEYS[4], ARGV[1] .. '|' .. chat)
end
redis.call('DEL', KEYS[2])
if KEYS[3] ~= KEYS[4] then
  redis.call('SUNIONSTORE', KEYS[4], KEYS[4], KEYS[3])
  redis.call('DEL', KEYS[3])
end
return redis.call('SMEMBERS', KEYS[4])
`;

type ScriptName = 'join' | 'leave' | 'clearOwner' | 'setTyping' | 'lapse' | 'snapshot' | 'heartbeat' | 'claim';

const SCRIPTS: Record<ScriptName, { lua: string; keys: number }> = {
  join: { lua: JOIN, keys: 4 },
  leave: { lua: LEAVE, keys: 4 },
  clearOwner: { lua: CLEAR_OWNER, keys: 4 },
  setTyping: { lua: SET_TYPING, keys: 3 },
  lapse: { lua: LAPSE, keys: 3 },
  snapshot: { lua: SNAPSHOT, keys: 3 },
  heartbeat: { lua: HEARTBEAT, keys: 1 },
  claim: { lua: CLAIM, keys: 4 },
};

/**
 * PresenceStore on Redis, one node or a cluster: its own command connection, beside the bus's publisher and
 * subscriber.
 */
export class RedisPresenceStore extends PresenceStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  /**
   * Per chat, when the newest join started (a running count of joins) and how many are on their way: a chat
   * leaves this instance's list only if no join overlapped the leave that emptied it.
   */
  private joinsStarted = 0;
  private readonly joins = new Map<string, { started: number; running: number }>();

  constructor(
    settings: RedisSettings,
    private readonly instanceId: string,
  ) {
    super();
    this.prefix = settings.keyPrefix;
    this.redis = openRedis(settings, instanceId, 'presence', {
      maxRetriesPerRequest: 1,
      // While Redis is away, or answers nothing, fail fast instead of queueing or waiting: the service reconciles
      // when it is back. A command that timed out may still run once Redis answers again, but Redis runs one
      // connection's commands in the order they were sent: PresenceTracker follows a join that failed with a
      // leave, which undoes it if it ran.
      offlineQueue: false,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    this.publishCommand = isCluster(this.redis) ? 'SPUBLISH' : 'PUBLISH';
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
    const joins = this.joins.get(chatId) ?? { started: 0, running: 0 };
    joins.started = ++this.joinsStarted;
    joins.running++;
    this.joins.set(chatId, joins);
    try {
      // Listed first, so that a reaper that finds this instance dead finds the meta too.
      await this.redis.sadd(this.chatsKey(meta.instanceId), chatId);
      return Number(
        await this.run(
          'join',
          [...this.chatKeys(chatId), this.ownedKey(chatId, meta.instanceId)],
          [...this.chatArgs(chatId), meta.trackKey, JSON.stringify(meta)],
        ),
      );
    } finally {
      joins.running--;
    }
  }

  async leave(chatId: string, instanceId: string, trackKeys: string[]): Promise<void> {
    if (!trackKeys.length) return;
    const before = this.joinsStarted;
    const joiningBefore = (this.joins.get(chatId)?.running ?? 0) > 0;
    const [, stillOwned] = (await this.run(
      'leave',
      [...this.chatKeys(chatId), this.ownedKey(chatId, instanceId)],
      [...this.chatArgs(chatId), ...trackKeys],
    )) as [number, number];
    // The chat leaves this instance's list with its last meta there, unless a join overlapped this leave: its
    // meta may have landed after the count, or its SADD before this SREM. A join that starts after this SREM is
    // sent sends its SADD after it, on the same connection.
    const joins = this.joins.get(chatId);
    const overlapped = joiningBefore || (joins !== undefined && (joins.running > 0 || joins.started > before));
    if (stillOwned > 0 || instanceId !== this.instanceId || overlapped) return;
    this.joins.delete(chatId);
    await this.redis.srem(this.chatsKey(instanceId), chatId);
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

  async heartbeat(instanceId: string, leaseExpiresAt: number): Promise<boolean> {
    return (await this.run('heartbeat', [this.leasesKey()], [instanceId, String(leaseExpiresAt)])) === 1;
  }

  async expiredInstances(now: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.leasesKey(), '-inf', now, 'LIMIT', 0, 50);
  }

  async liveInstances(now: number): Promise<Set<string>> {
    return new Set(await this.redis.zrangebyscore(this.leasesKey(), `(${now}`, '+inf'));
  }

  async reap(instanceId: string, now: number, force: boolean): Promise<number> {
    const reaping = this.reapingKey(this.instanceId);
    const claimed = (await this.run(
      'claim',
      [this.leasesKey(), this.chatsKey(instanceId), this.reapingKey(instanceId), reaping],
      [instanceId, String(now), force ? '1' : '0'],
    )) as string[] | null;
    if (!claimed) return -1;
    const removed = await Promise.all(
      claimed.map(async (entry) => {
        const sep = entry.indexOf('|');
        const count = await this.clearOwner(entry.slice(sep + 1), entry.slice(0, sep));
        await this.redis.srem(reaping, entry);
        return count;
      }),
    );
    return removed.reduce((sum, count) => sum + count, 0);
  }

  async reapOrphans(chatId: string, instanceIds: string[]): Promise<number> {
    let removed = 0;
    for (const instanceId of instanceIds) {
      // Looked up again here, at the last moment: an instance that has just started has its lease by now.
      if ((await this.redis.zscore(this.leasesKey(), instanceId)) !== null) continue;
      removed += await this.clearOwner(chatId, instanceId);
    }
    return removed;
  }

  async owned(
    instanceId: string,
    inChat?: (chatId: string) => boolean,
  ): Promise<{ chatId: string; trackKey: string }[]> {
    const chats = (await this.redis.smembers(this.chatsKey(instanceId))).filter((chatId) => inChat?.(chatId) ?? true);
    const keys = await Promise.all(chats.map((chatId) => this.redis.smembers(this.ownedKey(chatId, instanceId))));
    return chats.flatMap((chatId, i) => keys[i].map((trackKey) => ({ chatId, trackKey })));
  }

  async isHealthy(): Promise<boolean> {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }

  private async clearOwner(chatId: string, instanceId: string): Promise<number> {
    const keys = [...this.chatKeys(chatId), this.ownedKey(chatId, instanceId)];
    return Number(await this.run('clearOwner', keys, this.chatArgs(chatId)));
  }

  private key(name: string): string {
    return `${this.prefix}presence:${name}`;
  }

  private leasesKey(): string {
    return this.key('{instances}:leases');
  }

  private chatsKey(instanceId: string): string {
    return this.key(`{instances}:chats:${instanceId}`);
  }

  private reapingKey(instanceId: string): string {
    return this.key(`{instances}:reaping:${instanceId}`);
  }

  private ownedKey(chatId: string, instanceId: string): string {
    return this.key(`{${chatId}}:owned:${instanceId}`);
  }

  /** [metas, version, epoch] */
  private chatKeys(chatId: string): string[] {
    return [this.key(`{${chatId}}:metas`), this.key(`{${chatId}}:version`), this.key(`{${chatId}}:epoch`)];
  }

  /** [publish command, channel, chat, epoch to start] */
  private chatArgs(chatId: string): string[] {
    return [this.publishCommand, this.prefix + topics.presence(chatId), chatId, randomBytes(8).toString('hex')];
  }

  private run(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<ScriptName, (...a: string[]) => Promise<unknown>>)[name];
    return command.apply(this.redis, [...keys, ...args]);
  }
}
