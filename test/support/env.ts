import { randomBytes } from 'node:crypto';

/** Where the suites find the machine's services; override for another machine. */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';
/**
 * The REDIS_KEY_PREFIX of every app a test file starts: the instances of one file share keys and channels, and
 * files running side by side on one Redis (rate-limit counters keyed by 127.0.0.1 among them) never meet.
 */
export const TEST_KEY_PREFIX = `test-${randomBytes(4).toString('hex')}:`;
