import type { Viewer } from '../users/token.service';

/**
 * What every resolver sees, the same over every transport, built by RequestContexts (src/graphql): per request
 * over HTTP, at connection_init over graphql-ws. `connection` is present for operations that arrive over
 * graphql-ws.
 */
export interface RequestContext {
  viewer: Viewer | null;
  /** Who to rate-limit anonymous calls by: the client address. */
  clientKey: string;
  connection?: ConnectionInfo;
}

/** WebSocket close code for a client that stopped reading: non-fatal, so graphql-ws clients reconnect and resume. */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;

export interface ConnectionInfo {
  /** Unique per WebSocket connection on this instance. */
  id: string;
  /** Closes the socket; used to shed slow consumers. */
  close(code: number, reason: string): void;
}
