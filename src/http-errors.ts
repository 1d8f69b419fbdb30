import type { NextFunction, Request, Response } from 'express';

/**
 * Last Express error handler: malformed JSON, an oversized body and the like get a short JSON answer with the
 * same `extensions.code` vocabulary as GraphQL, never Express's HTML page with a stack trace.
 */
export function httpErrorHandler(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) return next(error);
  const status = statusOf(error);
  res.status(status).json(httpErrorBody(status));
}

/** The body of an HTTP-level refusal (the request never reached GraphQL), by status. */
export function httpErrorBody(status: number): { errors: { message: string; extensions: { code: string } }[] } {
  const message =
    status === 413 ? 'Request body is too large' : status < 500 ? 'Malformed request' : 'Internal server error';
  const code = status < 500 ? 'BAD_REQUEST' : 'INTERNAL_SERVER_ERROR';
  return { errors: [{ message, extensions: { code } }] };
}

/** The HTTP status an error from the HTTP layer (body-parser, say) carries; 500 when it names none. */
export function statusOf(error: unknown): number {
  const status =
    (error as { status?: unknown; statusCode?: unknown })?.status ?? (error as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
