import { QueryFailedError } from 'typeorm';

const UNIQUE_VIOLATION = '23505';
const DEADLOCK_DETECTED = '40P01';

/** The driver's error behind a failed query, whether it came through TypeORM or straight from pg (Sql). */
function driverErrorOf(error: unknown): { code?: string; constraint?: string } | null {
  if (error instanceof QueryFailedError) return error.driverError as { code?: string; constraint?: string };
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') {
    return error as Error & { code: string; constraint?: string };
  }
  return null;
}

/** Whether a query failed on a unique constraint (the named one, when given). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const driverError = driverErrorOf(error);
  return driverError?.code === UNIQUE_VIOLATION && (constraint === undefined || driverError.constraint === constraint);
}

/** Whether PostgreSQL chose this statement as the victim of a deadlock (running it again is safe). */
export function isDeadlock(error: unknown): boolean {
  return driverErrorOf(error)?.code === DEADLOCK_DETECTED;
}

const FOREIGN_KEY_VIOLATION = '23503';
/** The constraints by which a row names the user who acts: violated when that account no longer exists. */
const ACTING_USER_REFERENCES = new Set(['chats_created_by_fkey', 'chat_members_user_id_fkey', 'messages_user_id_fkey']);

/** Whether a write failed because the user it names was deleted meanwhile. */
export function isMissingUser(error: unknown): boolean {
  const driverError = driverErrorOf(error);
  return driverError?.code === FOREIGN_KEY_VIOLATION && ACTING_USER_REFERENCES.has(driverError.constraint ?? '');
}
