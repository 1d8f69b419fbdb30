/** The page's one graphql-ws connection: authenticated in connection_init, retried for as long as the page lives. */
import { Client, createClient } from 'graphql-ws';
import { ApiError, toApiError } from './api';

/** The server closes with this when the token is missing, bad or expired: retrying cannot help. */
export const CLOSE_FORBIDDEN = 4403;
const MAX_RETRY_DELAY_MS = 10_000;

export type ConnectionStatus = 'connecting' | 'online' | 'offline';

export interface LiveOptions {
  token: string;
  onStatus: (status: ConnectionStatus) => void;
  onForbidden: () => void;
  /** The socket is back after it was lost: the subscriptions restart, and what changed meanwhile was missed. */
  onReconnected: () => void;
}

export function connectLive({ token, onStatus, onForbidden, onReconnected }: LiveOptions): Client {
  let connectedBefore = false;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return createClient({
    url: `${scheme}://${location.host}/graphql`,
    connectionParams: { authorization: `Bearer ${token}` },
    // Switching chats ends one chat's subscriptions just before the next one's start: keep the socket meanwhile.
    lazyCloseTimeout: 2000,
    retryAttempts: Infinity,
    shouldRetry: (event) => closeCode(event) !== CLOSE_FORBIDDEN,
    // Exponential with jitter, so a restarted server is not hit by every page at once.
    retryWait: (retries) =>
      new Promise((resolve) =>
        setTimeout(resolve, Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** retries) * (0.5 + Math.random() / 2)),
      ),
    on: {
      connecting: () => onStatus('connecting'),
      connected: () => {
        onStatus('online');
        if (connectedBefore) onReconnected();
        connectedBefore = true;
      },
      closed: (event) => {
        onStatus('offline');
        if (closeCode(event) === CLOSE_FORBIDDEN) onForbidden();
      },
    },
  });
}

export function closeCode(event: unknown): number | undefined {
  return event && typeof event === 'object' && 'code' in event ? Number(event.code) : undefined;
}

/**
 * A query over the socket. The server takes a socket's messages in the order they came, so a query sent after
 * subscriptions is read once they are registered; over HTTP it could be read before, and a change in between
 * would be in neither.
 */
export function queryLive<T>(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    let result: T | undefined;
    client.subscribe<T>(
      { query, variables },
      {
        next: ({ data, errors }) => {
          if (errors?.[0]) reject(toApiError(errors[0]));
          else if (data) result = data;
        },
        // A list of GraphQL errors, or the socket's close: describeError words either.
        error: reject,
        complete: () => (result ? resolve(result) : reject(new ApiError('ERROR', 'The server sent no answer'))),
      },
    );
  });
}
