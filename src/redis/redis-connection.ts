import { Logger } from '@nestjs/common';
import Redis, { Cluster, RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config/config.schema';

export interface RedisSettings {
  target: RedisTarget;
  /** REDIS_KEY_PREFIX: starts every key and channel name, so deployments sharing a Redis never meet. */
  keyPrefix: string;
}

/** A connection to one node, or to a whole cluster (which routes each command to the node of its key's slot). */
export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  /** Queue commands while disconnected (true) or fail them at once (false). */
  offlineQueue: boolean;
  maxRetriesPerRequest: number;
  /**
   * Fail a command Redis has not answered within this long. Without it a command waits as long as the connection
   * looks alive: a Redis that stalls (paused, a partition TCP has not noticed) would hold its callers for minutes.
   */
  commandTimeoutMs?: number;
  /** Commands issued in one tick leave in one write (per node on a cluster). */
  autoPipelining?: boolean;
  /** On a cluster: SSUBSCRIBE through one subscriber connection per master. */
  shardedSubscribers?: boolean;
}

const logger = new Logger('Redis');
const closing = new WeakSet<RedisClient>();
const backoff = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/**
 * One connection to the app's Redis, named `<instance>:<role>` (CLIENT LIST tells who is who), reconnecting
 * with capped backoff. Errors are logged as warnings while it is open; each owner closes its own with
 * closeRedis. Key names are the owner's to build with the prefix: ioredis's own keyPrefix would not reach
 * channel names or the keys a library (rate-limiter-flexible) builds.
 */
export function openRedis(
  settings: RedisSettings,
  instanceId: string,
  role: string,
  options: ConnectionOptions,
): RedisClient {
  const { target } = settings;
  const connectionName = `${instanceId}:${role}`;
  const client =
    target.kind === 'node'
      ? new Redis(target.url, {
          retryStrategy: backoff,
          maxRetriesPerRequest: options.maxRetriesPerRequest,
          commandTimeout: options.commandTimeoutMs,
          enableOfflineQueue: options.offlineQueue,
          enableAutoPipelining: options.autoPipelining ?? false,
          connectionName,
        })
      : new Cluster(target.nodes, {
          clusterRetryStrategy: backoff,
          enableOfflineQueue: options.offlineQueue,
          enableAutoPipelining: options.autoPipelining ?? false,
          shardedSubscribers: options.shardedSubscribers ?? false,
          // A failover takes the cluster a few seconds; commands for the failed master's slots wait for it
          // (bounded by maxRetriesPerRequest) rather than fail at the first refused connection.
          retryDelayOnFailover: 200,
          retryDelayOnClusterDown: 200,
          redisOptions: nodeOptions(target, connectionName, options),
        });
  client.on('error', (error: Error) => {
    if (!closing.has(client)) logger.warn(`${role}: ${error.message}`);
  });
  return client;
}

function nodeOptions(
  target: Extract<RedisTarget, { kind: 'cluster' }>,
  connectionName: string,
  options: ConnectionOptions,
): RedisOptions {
  return {
    username: target.username,
    password: target.password,
    tls: target.tls ? {} : undefined,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    commandTimeout: options.commandTimeoutMs,
    connectionName,
  };
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

export async function closeRedis(...clients: RedisClient[]): Promise<void> {
  for (const client of clients) closing.add(client);
  await Promise.allSettled(clients.map((client) => client.quit().catch(() => client.disconnect())));
}
