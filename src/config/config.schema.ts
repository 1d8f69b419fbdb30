import proxyaddr from 'proxy-addr';
import { z } from 'zod';

/**
 * The one schema for every environment variable the service reads (API.md, "Processes and configuration").
 * Everything is parsed here once at start; the rest of the code receives a typed AppConfig.
 */
const boolish = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/** Decimal digits, around them white space: Number() alone would also read ' ' as 0, and '0x1f' or '1e3'. */
const DECIMAL = /^\s*[+-]?\d+\s*$/;
const int = (rules: (n: z.ZodNumber) => z.ZodNumber = (n) => n) =>
  z.preprocess(
    (value) => (typeof value === 'string' ? (DECIMAL.test(value) ? Number(value) : Number.NaN) : value),
    rules(
      z
        .number({ invalid_type_error: 'must be a whole number' })
        .int('must be a whole number')
        .max(Number.MAX_SAFE_INTEGER, 'must be a whole number'),
    ),
  );
const positiveInt = (fallback: number) => int((n) => n.positive('must be greater than 0')).default(fallback);
const nonNegativeInt = (fallback: number) => int((n) => n.nonnegative('must be 0 or more')).default(fallback);
/** Node's timers take at most 2^31 - 1 ms, and fire at once (every millisecond, for an interval) past it. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const milliseconds = (fallback: number, min = 1) =>
  int((n) =>
    n
      .min(min, min === 0 ? 'must be 0 or more' : min === 1 ? 'must be greater than 0' : `must be at least ${min}`)
      .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS}`),
  ).default(fallback);
/** Clients are promised that SIGTERM ends an instance, and that a dead instance's presence leaves, within 10 s. */
const PROMISED_MS = 10_000;
/** Clients are promised that `typing: true` lapses after 5 s unless set again. */
const PROMISED_TYPING_MS = 5000;

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int((n) => n.min(0, 'must be 0-65535').max(65535, 'must be 0-65535')).default(3000),
  METRICS_PORT: int((n) => n.min(0, 'must be 0-65535').max(65535, 'must be 0-65535')).optional(),
  HOST: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .url()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  REDIS_URL: z
    .string()
    .refine(
      (v) => redisTarget(v) !== null,
      'must be a redis:// or rediss:// URL, or redis-cluster://host:port,host:port,… (rediss-cluster:// for TLS)',
    )
    .optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:._-]{1,64}$/, 'must be 1-64 letters, digits, colon, dot, dash or underscore')
    .default('chat:'),
  JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  JWT_EXPIRES_IN: z
    .string()
    .regex(/^\d+[smhd]?$/, 'must be a number of seconds or a duration like 15m, 12h, 7d')
    .default('7d'),
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, dot, dash or underscore')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PASSWORD_HASH_MEMORY_KIB: positiveInt(19456),
  PASSWORD_HASH_ITERATIONS: positiveInt(2),
  GRAPHQL_MAX_DEPTH: positiveInt(10),
  GRAPHQL_MAX_COMPLEXITY: positiveInt(50_000),
  GRAPHQL_MAX_TOKENS: positiveInt(1000),
  GRAPHQL_MAX_ALIASES: nonNegativeInt(30),
  GRAPHQL_MAX_DIRECTIVES: nonNegativeInt(50),
  GRAPHQL_INTROSPECTION: boolish.optional(),
  GRAPHQL_SUGGESTIONS: boolish.optional(),
  TRUST_PROXY: z
    .string()
    .refine(isTrustList, 'must be a comma-separated list of addresses, CIDR ranges, loopback, linklocal or uniquelocal')
    .optional(),
  HTTP_BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'must look like 100kb or 1mb')
    .default('256kb'),
  RATE_LIMIT_MESSAGES_PER_SECOND: positiveInt(20),
  RATE_LIMIT_MESSAGES_BURST: positiveInt(40),
  RATE_LIMIT_TYPING_PER_SECOND: positiveInt(10),
  RATE_LIMIT_TYPING_BURST: positiveInt(20),
  RATE_LIMIT_AUTH_PER_MINUTE: positiveInt(60),
  RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: positiveInt(10),
  WS_MAX_QUEUED_EVENTS: positiveInt(1000),
  WS_MAX_BUFFERED_BYTES: positiveInt(4 * 1024 * 1024),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: positiveInt(100),
  WS_KEEPALIVE_MS: milliseconds(30_000, 1000),
  PRESENCE_HEARTBEAT_MS: milliseconds(1000),
  PRESENCE_LEASE_TTL_MS: milliseconds(3000),
  PRESENCE_TYPING_TIMEOUT_MS: milliseconds(5000),
  PRESENCE_MAX_METAS_PER_USER: positiveInt(20),
  SHUTDOWN_TIMEOUT_MS: milliseconds(8000, 0),
});

export type Env = z.infer<typeof envSchema>;

export function trustList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

function isTrustList(value: string): boolean {
  try {
    proxyaddr.compile(trustList(value));
    return true;
  } catch {
    return false;
  }
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses the environment, collecting every problem rather than stopping at the first. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  // An empty variable means "unset": docker-compose and shells often pass FOO= for optional values.
  const cleaned = Object.fromEntries(
    Object.keys(envSchema.shape).map((key) => [key, source[key] === '' ? undefined : source[key]]),
  );
  const result = envSchema.safeParse(cleaned);
  const problems = result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
  problems.push(...crossFieldProblems(cleaned));
  if (problems.length || !result.success) throw new ConfigError(problems);
  return result.data;
}

/**
 * Settings that are valid but break a time limit clients are promised (an operator's choice, said at start-up):
 * a drain of 10 s or more, a presence lease that with the heartbeat (a dead instance's lease runs out, then a
 * live one's next heartbeat removes its presence) takes longer than 10 s, or typing lapsing other than after 5 s.
 */
export function promisesBroken(env: Env): string[] {
  const broken: string[] = [];
  // At the timeout the process exits 1: only a drain shorter than 10 s ends within them.
  if (env.SHUTDOWN_TIMEOUT_MS >= PROMISED_MS) {
    broken.push(
      `SHUTDOWN_TIMEOUT_MS is ${PROMISED_MS} or more: SIGTERM may not end the process within the promised 10 s`,
    );
  }
  if (env.PRESENCE_TYPING_TIMEOUT_MS !== PROMISED_TYPING_MS) {
    broken.push(
      `PRESENCE_TYPING_TIMEOUT_MS is not ${PROMISED_TYPING_MS}: typing lapses other than after the promised 5 s`,
    );
  }
  const presenceGone = env.PRESENCE_LEASE_TTL_MS + env.PRESENCE_HEARTBEAT_MS;
  if (presenceGone > PROMISED_MS) {
    broken.push(
      `PRESENCE_LEASE_TTL_MS + PRESENCE_HEARTBEAT_MS is ${presenceGone} ms: a dead instance's presence may stay ` +
        'longer than the promised 10 s',
    );
  }
  return broken;
}

/**
 * Rules between variables, checked whenever the variables they compare are valid, however bad the others are, so
 * that every problem is named at once.
 */
function crossFieldProblems(raw: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  if (raw.NODE_ENV === 'production' && !raw.JWT_SECRET) {
    problems.push('JWT_SECRET: is required when NODE_ENV=production');
  }
  const port = envSchema.shape.PORT.safeParse(raw.PORT);
  const metricsPort = envSchema.shape.METRICS_PORT.safeParse(raw.METRICS_PORT);
  if (port.success && metricsPort.success && metricsPort.data !== undefined && metricsPort.data !== 0) {
    if (metricsPort.data === port.data) problems.push('METRICS_PORT: must differ from PORT');
  }
  const leaseTtl = envSchema.shape.PRESENCE_LEASE_TTL_MS.safeParse(raw.PRESENCE_LEASE_TTL_MS);
  const heartbeat = envSchema.shape.PRESENCE_HEARTBEAT_MS.safeParse(raw.PRESENCE_HEARTBEAT_MS);
  if (leaseTtl.success && heartbeat.success && leaseTtl.data <= heartbeat.data) {
    problems.push('PRESENCE_LEASE_TTL_MS: must be longer than PRESENCE_HEARTBEAT_MS');
  }
  return problems;
}

/** A single Redis node, or the seed nodes of a Redis Cluster (the client learns the rest from them). */
export type RedisTarget =
  | { kind: 'node'; url: string }
  | {
      kind: 'cluster';
      nodes: { host: string; port: number }[];
      username?: string;
      password?: string;
      tls: boolean;
    };

const CLUSTER_URL = /^(rediss?)-cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#@]+)\/?$/;
const SEED_NODE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * REDIS_URL: `redis://` or `rediss://` names one node; `redis-cluster://[user:password@]host:port,host:port,…`
 * (`rediss-cluster://` for TLS) names a cluster by some of its nodes. Null when it is neither.
 */
export function redisTarget(value: string): RedisTarget | null {
  const cluster = CLUSTER_URL.exec(value);
  if (cluster) {
    const nodes: { host: string; port: number }[] = [];
    for (const seed of cluster[4].split(',')) {
      const node = SEED_NODE.exec(seed);
      const port = node ? Number(node[2]) : 0;
      if (!node || port < 1 || port > 65535) return null;
      nodes.push({ host: node[1].replace(/^\[|\]$/g, ''), port });
    }
    try {
      return {
        kind: 'cluster',
        nodes,
        username: cluster[2] ? decodeURIComponent(cluster[2]) : undefined,
        password: cluster[3] ? decodeURIComponent(cluster[3]) : undefined,
        tls: cluster[1] === 'rediss',
      };
    } catch {
      return null; // a malformed %-escape
    }
  }
  if (!/^rediss?:\/\//.test(value)) return null;
  try {
    new URL(value);
  } catch {
    return null;
  }
  return { kind: 'node', url: value };
}
