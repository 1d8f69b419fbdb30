import type { AppConfig } from '../config/app-config';
import { hostPort } from '../common/host-port';

/**
 * What an operator needs to know at start-up, in one line each: where the data lives and which bus carries
 * events between instances. Hosts and database names only: never a user's password or any other secret from the
 * URLs.
 */
export function describeDatabase(config: Pick<AppConfig, 'databaseUrl' | 'dataDir'>): string {
  if (!config.databaseUrl) return `embedded PostgreSQL under ${config.dataDir}`;
  try {
    const url = new URL(config.databaseUrl);
    return `PostgreSQL ${url.host}/${decodeURIComponent(url.pathname.slice(1))}`;
  } catch {
    return 'PostgreSQL';
  }
}

export function describeBus(config: Pick<AppConfig, 'redis'>): string {
  const target = config.redis?.target;
  if (!target) return 'in-process (events, presence and rate limits for this instance only)';
  if (target.kind === 'cluster') {
    const nodes = target.nodes.map(({ host, port }) => hostPort(host, port));
    return `Redis Cluster ${nodes.join(',')}${target.tls ? ' (TLS)' : ''}`;
  }
  try {
    const url = new URL(target.url);
    return `Redis ${url.host}${url.protocol === 'rediss:' ? ' (TLS)' : ''}`;
  } catch {
    return 'Redis';
  }
}
