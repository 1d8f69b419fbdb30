/**
 * What the page says when something fails: one sentence a person can act on, never a bare error code. Every error
 * the page shows goes through describeError, so the wording lives here and nowhere else. The server's own
 * message is kept where it names the problem ("only the owner renames the chat", "nobody has this email"); where
 * it is only a code's echo ("Authentication required", "Internal server error") the page says it better.
 */
import { ApiError, toApiError } from './api';
import { CLOSE_FORBIDDEN, closeCode } from './live';

export const SESSION_ENDED = 'Your session has ended. Sign in again.';
export const NAME_NEEDED = 'Enter your name to sign up.';

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return describeCode(error.code, error.message, error.retryAfterMs);
  if (typeof error === 'string') return error;
  if (Array.isArray(error)) return unique(error.map(describeError)).join(' ');
  // graphql-ws hands a CloseEvent to a subscription that ends with its socket.
  if (error && typeof error === 'object' && 'code' in error && !('message' in error)) {
    return closeCode(error) === CLOSE_FORBIDDEN
      ? SESSION_ENDED
      : 'The live connection was lost. Reload the page to reconnect.';
  }
  // A GraphQL error as a subscription delivers it: { message, extensions: { code } }.
  if (error && typeof error === 'object' && 'message' in error) return describeError(toApiError(error));
  return 'Something went wrong. Try again.';
}

function describeCode(code: string, message: string, retryAfterMs?: number): string {
  switch (code) {
    case 'UNAUTHENTICATED':
      return /email or password/i.test(message) ? 'Wrong email or password.' : SESSION_ENDED;
    case 'FORBIDDEN':
      return sentence(message, 'You are not allowed to do that.');
    case 'NOT_FOUND':
      return sentence(message, 'That no longer exists.');
    case 'BAD_USER_INPUT':
      // graphql-js's own wording for a variable names the query's internals, not what the person typed.
      return sentence(/^Variable "\$/.test(message) ? '' : message, 'Something in what you entered is not valid.');
    case 'CONFLICT':
      return sentence(message, 'That clashes with a change made meanwhile. Try again.');
    case 'RATE_LIMITED':
      return `You’re going a bit fast. Try again in ${waitText(retryAfterMs)}.`;
    case 'NETWORK':
      return 'The server cannot be reached. Check your connection and try again.';
    case 'GRAPHQL_PARSE_FAILED':
    case 'GRAPHQL_VALIDATION_FAILED':
    case 'BAD_REQUEST':
      return 'The server did not understand this page’s request. Reload the page and try again.';
    case 'INTERNAL_SERVER_ERROR':
      return 'Something went wrong on the server. Try again in a moment.';
    default:
      if (/^HTTP_5\d\d$/.test(code)) return 'The server is having trouble. Try again in a moment.';
      if (/^HTTP_\d+$/.test(code)) return 'The server refused the request. Reload the page and try again.';
      return sentence(message, 'Something went wrong. Try again.');
  }
}

/** The server's messages are lower-case phrases ("chat not found"): as a sentence, or the fallback without one. */
function sentence(message: string, fallback: string): string {
  const text = message.trim();
  if (!text) return fallback;
  const capitalised = text[0].toUpperCase() + text.slice(1);
  return /[.!?…]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

function waitText(retryAfterMs: number | undefined): string {
  if (retryAfterMs === undefined) return 'a moment';
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return seconds === 1 ? '1 second' : `${seconds} seconds`;
}

function unique(texts: string[]): string[] {
  return [...new Set(texts)];
}
