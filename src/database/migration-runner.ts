import { DataSource, MigrationExecutor } from 'typeorm';

/** An arbitrary constant shared by every instance: the advisory lock that serialises migrations. */
const MIGRATION_LOCK_KEY = 7_310_442_001;

/**
 * Runs pending migrations while holding a session-level advisory lock, so that N instances starting at once
 * apply each migration exactly once. Lock and migrations share one connection: a session-level lock is released
 * by the session that took it.
 */
export async function runMigrationsLocked(dataSource: DataSource): Promise<number> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'each';
      const applied = await executor.executePendingMigrations();
      return applied.length;
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}
