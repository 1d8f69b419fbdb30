import { ConfigError, parseEnv } from './config.schema';

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

  it('requires the presence lease to outlive the heartbeat', () => {
    expect(() => parseEnv({ PRESENCE_HEARTBEAT_MS: '2000', PRESENCE_LEASE_TTL_MS: '1000' })).toThrow(
      /PRESENCE_LEASE_TTL_MS: must be longer/,
    );
  });
});
