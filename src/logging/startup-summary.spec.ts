import { describeBus, describeDatabase } from './startup-summary';

describe('start-up summary', () => {
  it('names the database by host and name, never its password', () => {
    expect(
      describeDatabase({ databaseUrl: 'postgres://chat:s3cret@db.internal:5433/chat_prod', dataDir: './data' }),
    ).toBe('PostgreSQL db.internal:5433/chat_prod');
    expect(describeDatabase({ databaseUrl: undefined, dataDir: './data' })).toBe('embedded PostgreSQL under ./data');
  });

  it('names the bus: in-process, one Redis, or a Redis Cluster, never a password', () => {
    expect(describeBus({ redis: undefined })).toMatch(/^in-process/);
    expect(
      describeBus({
        redis: { keyPrefix: 'chat:', target: { kind: 'node', url: 'rediss://user:s3cret@cache:6380/0' } },
      }),
    ).toBe('Redis cache:6380 (TLS)');
    const cluster = describeBus({
      redis: {
        keyPrefix: 'chat:',
        target: {
          kind: 'cluster',
          nodes: [
            { host: '10.0.0.1', port: 7000 },
            { host: '::1', port: 7001 },
          ],
          username: 'user',
          password: 's3cret',
          tls: false,
        },
      },
    });
    expect(cluster).toBe('Redis Cluster 10.0.0.1:7000,[::1]:7001');
    expect(cluster).not.toContain('s3cret');
  });
});
