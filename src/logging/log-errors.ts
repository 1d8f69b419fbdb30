import pino from 'pino';

/**
 * An error for a log line's text: its message, never its string form, which for a GraphQL error goes on to quote
 * the lines of the document it points at, and a document may hold what a client sent (a password).
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  // Only the first line: Apollo logs errors already turned into text, source lines and all.
  return String(error).split('\n', 1)[0];
}

/**
 * An error as a log line's `err`: its type, message and stack, without the properties pino's own serializer
 * writes too (a failed query's SQL and parameters, a driver's details), which hold what users sent. A database's
 * message may still quote a value it refused.
 */
export function errorForLog(error: unknown): { type: string; message: string; stack?: string } {
  const { type, message, stack } = pino.stdSerializers.err(error as Error);
  return { type, message, stack };
}
