/** The page's one graphql-ws connection: authenticated in connection_init, retried for as long as the page lives. */
import { Client, createClient } from 'graphql-ws';

/** The server closes with this when the token is missing, bad or expired: retrying cannot help. */
const CLOSE_FORBIDDEN = 4403;
const MAX_RETRY_DELAY_MS = 10_000;

export type ConnectionStatus = 'connecting' | 'online' | 'offline';

export interface LiveOptions {
  token: string;
  onStatus: (status: ConnectionStatus) => void;
  onForbidden: () => void;
}

export function connectLive({ token, onStatus, onForbidden }: LiveOptions): Client {
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
      connected: () => onStatus('online'),
      closed: (event) => {
        onStatus('offline');
        if (closeCode(event) === CLOSE_FORBIDDEN) onForbidden();
      },
    },
  });
}

function closeCode(event: unknown): number | undefined {
  return event && typeof event === 'object' && 'code' in event ? Number(event.code) : undefined;
}
