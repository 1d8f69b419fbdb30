import { ConfigError, parseEnv, promisesBroken, redisTarget } from './config.schema';

describe('parseEnv', () => {
  it('applies defaults to an empty environment', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ NODE_ENV: 'development', PORT: 3000, DATA_DIR: './data', GRAPHQL_MAX_DEPTH: 10 });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
  });

  it('treats empty values as unset', () => {
    expect(parseEnv({ DATABASE_URL: '', PORT: '' })).toMatchObject({ PORT: 3000, DATABASE_URL: undefined });
  });

  it('names every bad variable at once', () => {
    let caught: unknown;
    try {
      parseEnv({ NODE_ENV: 'production', PORT: '70000', REDIS_URL: 'nope', PRESENCE_HEARTBEAT_MS: '0' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.join('\n');
    expect(problems).toMatch(/^PORT: must be 0-65535/m);
    expect(problems).toMatch(/^REDIS_URL:/m);
    expect(problems).toMatch(/^PRESENCE_HEARTBEAT_MS: must be greater than 0/m);
    expect(problems).toMatch(/^JWT_SECRET: is required when NODE_ENV=production/m);
  });

  it('reads numbers written in decimal digits only, and refuses what would reach a timer too large', () => {
    expect(parseEnv({ PORT: ' 4000 ', GRAPHQL_MAX_ALIASES: '0' })).toMatchObject({
      PORT: 4000,
      GRAPHQL_MAX_ALIASES: 0,
    });
    for (const bad of [' ', '0x1271', '4.625e3', '4000.0', '1_000', 'Infinity', '99999999999999999999']) {
      expect(() => parseEnv({ PORT: bad })).toThrow(/PORT: must be a whole number|PORT: must be 0-65535/);
      expect(() => parseEnv({ GRAPHQL_MAX_ALIASES: bad })).toThrow(/GRAPHQL_MAX_ALIASES: must be/);
    }
    // Node's timers fire at once past 2^31 - 1 ms: a keep-alive that large would ping every millisecond.
    expect(() => parseEnv({ WS_KEEPALIVE_MS: '3000000000' })).toThrow(/WS_KEEPALIVE_MS: must be at most 2147483647/);
    expect(() => parseEnv({ PRESENCE_TYPING_TIMEOUT_MS: '2147483648' })).toThrow(/PRESENCE_TYPING_TIMEOUT_MS/);
  });

  it('says which valid settings break a time limit clients are promised', () => {
    expect(promisesBroken(parseEnv({}))).toEqual([]);
    expect(promisesBroken(parseEnv({ SHUTDOWN_TIMEOUT_MS: '9999', PRESENCE_LEASE_TTL_MS: '9000' }))).toEqual([]);
    const broken = promisesBroken(
      parseEnv({ SHUTDOWN_TIMEOUT_MS: '10000', PRESENCE_LEASE_TTL_MS: '60000', PRESENCE_TYPING_TIMEOUT_MS: '1500' }),
    );
    expect(broken).toEqual([
      expect.stringMatching(/^SHUTDOWN_TIMEOUT_MS is 10000 or more/),
      expect.stringMatching(/^PRESENCE_TYPING_TIMEOUT_MS is not 5000/),
      expect.stringMatching(/^PRESENCE_LEASE_TTL_MS \+ PRESENCE_HEARTBEAT_MS is 61000 ms/),
    ]);
  });

  it('refuses a metrics port that is the API port, and takes two different ones or a free one', () => {
    expect(() => parseEnv({ PORT: '4000', METRICS_PORT: '4000' })).toThrow(/METRICS_PORT: must differ from PORT/);
    expect(() => parseEnv({ METRICS_PORT: '3000' })).toThrow(/METRICS_PORT: must differ from PORT/);
    expect(parseEnv({ PORT: '4000', METRICS_PORT: '4001' })).toMatchObject({ PORT: 4000, METRICS_PORT: 4001 });
    expect(parseEnv({ PORT: '0', METRICS_PORT: '0' })).toMatchObject({ PORT: 0, METRICS_PORT: 0 });
  });

  it('requires the presence lease to outlive the heartbeat, also among other bad variables', () => {
    expect(() => parseEnv({ PRESENCE_HEARTBEAT_MS: '2000', PRESENCE_LEASE_TTL_MS: '1000' })).toThrow(
      /PRESENCE_LEASE_TTL_MS: must be longer/,
    );
    expect(() => parseEnv({ PORT: 'abc', PRESENCE_HEARTBEAT_MS: '1000', PRESENCE_LEASE_TTL_MS: '500' })).toThrow(
      /PORT:[^]*PRESENCE_LEASE_TTL_MS: must be longer/,
    );
  });

  it('reads REDIS_URL as one node or as the seed nodes of a cluster', () => {
    expect(redisTarget('redis://127.0.0.1:6379/2')).toEqual({ kind: 'node', url: 'redis://127.0.0.1:6379/2' });
    expect(redisTarget('rediss-cluster://app:p%40ss@r1:7000,10.0.0.2:7001,[::1]:7002')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'r1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
    expect(redisTarget('redis-cluster://r1:7000/')).toMatchObject({ kind: 'cluster', tls: false });
    for (const bad of [
      'redis-cluster://',
      'redis-cluster://r1',
      'redis-cluster://r1:0',
      'redis-cluster://r1:70000',
      'redis-cluster://r1:7000,,r2:7001',
      'redis-cluster://r1:7000/3',
      'redis-cluster://a:%zz@r1:7000',
      'http://r1:7000',
      'nope',
    ]) {
      expect(redisTarget(bad)).toBeNull();
      expect(() => parseEnv({ REDIS_URL: bad })).toThrow(/REDIS_URL: must be a redis:\/\//);
    }
  });
});
