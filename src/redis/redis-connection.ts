import { Logger } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';

export interface RedisSettings {
  url: string;
  /** REDIS_KEY_PREFIX: starts every key and channel name, so deployments sharing a Redis never meet. */
  keyPrefix: string;
}

const logger = new Logger('Redis');
const closing = new WeakSet<Redis>();

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
  options: RedisOptions = {},
): Redis {
  const client = new Redis(settings.url, {
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
    ...options,
    connectionName: `${instanceId}:${role}`,
  });
  client.on('error', (error: Error) => {
    if (!closing.has(client)) logger.warn(`${role}: ${error.message}`);
  });
  return client;
}

export async function closeRedis(...clients: Redis[]): Promise<void> {
  for (const client of clients) closing.add(client);
  await Promise.allSettled(clients.map((client) => client.quit().catch(() => client.disconnect())));
}
