import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createExclusive } from '../common/exclusive-file';
import { ConfigError, Env, parseEnv, promisesBroken, RedisTarget, redisTarget, trustList } from './config.schema';

export interface RateLimit {
  perSecond: number;
  burst: number;
}

/**
 * Typed configuration, built once from the environment and injected everywhere.
 * Nothing outside src/config reads process.env.
 */
export class AppConfig {
  readonly nodeEnv: Env['NODE_ENV'];
  readonly port: number;
  /** Where /metrics is served instead of on `port`, when set (0 picks a free port). */
  readonly metricsPort?: number;
  readonly host: string;
  readonly databaseUrl?: string;
  readonly dataDir: string;
  /** Unset: the in-process bus, presence store and rate limits (one instance only). */
  readonly redis?: { target: RedisTarget; keyPrefix: string };
  readonly jwtSecret: string;
  readonly jwtExpiresInSeconds: number;
  readonly instanceId: string;
  readonly logLevel: Env['LOG_LEVEL'];
  readonly passwordHash: { memoryCost: number; timeCost: number };
  readonly graphql: {
    maxDepth: number;
    maxComplexity: number;
    maxTokens: number;
    maxAliases: number;
    maxDirectives: number;
    introspection: boolean;
    /** Whether validation errors may say "Did you mean …", which tells a stranger the schema's names. */
    suggestions: boolean;
  };
  /** The peers whose X-Forwarded-For is believed (proxy-addr's list); empty: the socket's peer is the client. */
  readonly trustProxy: string[];
  readonly httpBodyLimit: string;
  readonly rateLimits: {
    messages: RateLimit;
    typing: RateLimit;
    /** Sign-up and sign-in attempts per client address. */
    authPerMinute: number;
    /** Sign-in attempts per account that did not succeed. */
    authPerAccountPerMinute: number;
  };
  readonly ws: {
    maxQueuedEvents: number;
    maxBufferedBytes: number;
    maxSubscriptionsPerConnection: number;
    /** How often each socket is pinged; one that has not answered by its next turn is dropped. */
    keepAliveMs: number;
  };
  readonly presence: {
    heartbeatMs: number;
    leaseTtlMs: number;
    typingTimeoutMs: number;
    maxMetasPerUser: number;
  };
  readonly shutdownTimeoutMs: number;
  /** Valid settings that break a time limit clients are promised; said at start-up. */
  readonly promisesBroken: readonly string[];

  constructor(env: Env) {
    this.promisesBroken = promisesBroken(env);
    this.nodeEnv = env.NODE_ENV;
    this.port = env.PORT;
    this.metricsPort = env.METRICS_PORT;
    this.host = env.HOST ?? '127.0.0.1';
    this.databaseUrl = env.DATABASE_URL;
    this.dataDir = resolve(env.DATA_DIR);
    this.redis = env.REDIS_URL ? { target: redisTarget(env.REDIS_URL)!, keyPrefix: env.REDIS_KEY_PREFIX } : undefined;
    this.jwtSecret = env.JWT_SECRET ?? loadOrCreateDevSecret(this.dataDir);
    this.jwtExpiresInSeconds = durationToSeconds(env.JWT_EXPIRES_IN);
    this.instanceId = env.INSTANCE_ID ?? `i-${randomBytes(4).toString('hex')}`;
    this.logLevel = env.LOG_LEVEL;
    this.passwordHash = { memoryCost: env.PASSWORD_HASH_MEMORY_KIB, timeCost: env.PASSWORD_HASH_ITERATIONS };
    const production = env.NODE_ENV === 'production';
    this.graphql = {
      maxDepth: env.GRAPHQL_MAX_DEPTH,
      maxComplexity: env.GRAPHQL_MAX_COMPLEXITY,
      maxTokens: env.GRAPHQL_MAX_TOKENS,
      maxAliases: env.GRAPHQL_MAX_ALIASES,
      maxDirectives: env.GRAPHQL_MAX_DIRECTIVES,
      introspection: env.GRAPHQL_INTROSPECTION ?? !production,
      suggestions: env.GRAPHQL_SUGGESTIONS ?? !production,
    };
    this.trustProxy = env.TRUST_PROXY ? trustList(env.TRUST_PROXY) : [];
    this.httpBodyLimit = env.HTTP_BODY_LIMIT;
    this.rateLimits = {
      messages: { perSecond: env.RATE_LIMIT_MESSAGES_PER_SECOND, burst: env.RATE_LIMIT_MESSAGES_BURST },
      typing: { perSecond: env.RATE_LIMIT_TYPING_PER_SECOND, burst: env.RATE_LIMIT_TYPING_BURST },
      authPerMinute: env.RATE_LIMIT_AUTH_PER_MINUTE,
      authPerAccountPerMinute: env.RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE,
    };
    this.ws = {
      maxQueuedEvents: env.WS_MAX_QUEUED_EVENTS,
      maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
      maxSubscriptionsPerConnection: env.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      keepAliveMs: env.WS_KEEPALIVE_MS,
    };
    this.presence = {
      heartbeatMs: env.PRESENCE_HEARTBEAT_MS,
      leaseTtlMs: env.PRESENCE_LEASE_TTL_MS,
      typingTimeoutMs: env.PRESENCE_TYPING_TIMEOUT_MS,
      maxMetasPerUser: env.PRESENCE_MAX_METAS_PER_USER,
    };
    this.shutdownTimeoutMs = env.SHUTDOWN_TIMEOUT_MS;
  }

  get isProduction(): boolean {
    return this.nodeEnv === 'production';
  }

  static fromEnvironment(source: Record<string, string | undefined> = process.env): AppConfig {
    return new AppConfig(parseEnv(source));
  }
}

function durationToSeconds(value: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value);
  if (!match) throw new Error(`bad duration ${value}`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/**
 * Development only: a random secret kept under DATA_DIR so tokens survive a restart. Instances started at once on
 * one DATA_DIR all use the secret the first of them wrote, so each accepts the others' tokens.
 */
function loadOrCreateDevSecret(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret');
  let secret = readSecret(file);
  if (secret === undefined) {
    mkdirSync(dataDir, { recursive: true });
    const created = randomBytes(32).toString('base64url');
    secret = createExclusive(file, created) ? created : readWritten(file);
  }
  if (secret === null || secret === undefined) {
    // Not one this app wrote; replacing it would race with another instance starting.
    throw new ConfigError([
      `JWT_SECRET: unset, and ${file} holds no usable secret (16 characters at least): remove the file, or set JWT_SECRET`,
    ]);
  }
  return secret;
}

/**
 * The secret another instance has just created: whole at once where the file system has hard links, but written
 * in place (so briefly empty) where it has none, hence read again for a moment before it counts as unusable.
 */
function readWritten(file: string): string | null | undefined {
  const deadline = Date.now() + 1000;
  let secret = readSecret(file);
  while (secret === null && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    secret = readSecret(file);
  }
  return secret;
}

/** The secret in `file`; undefined when there is no file, null when what it holds is too short to be one. */
function readSecret(file: string): string | null | undefined {
  if (!existsSync(file)) return undefined;
  const secret = readFileSync(file, 'utf8').trim();
  return secret.length >= 16 ? secret : null;
}
