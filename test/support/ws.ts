import { Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface WsClientHandle {
  client: Client;
  /** Resolves with the close code of the first socket close. */
  closed: Promise<{ code: number; reason: string }>;
  dispose(): Promise<void>;
}

/** A graphql-ws client that does not retry, so tests see exactly what the server did. */
export function connect(wsUrl: string, token?: string | null, authorization?: string): WsClientHandle {
  let resolveClosed!: (value: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (resolveClosed = resolve));
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: authorization ? { authorization } : token ? { authorization: `Bearer ${token}` } : {},
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        resolveClosed({ code, reason: String(reason) });
      },
    },
    onNonLazyError: () => undefined,
  });
  return { client, closed, dispose: () => Promise.resolve(client.dispose()) };
}

export interface GqlError {
  message: string;
  extensions?: Record<string, unknown>;
}

/**
 * One subscription's record: every `next` payload, every error, and completion, with waits that resolve on the
 * event itself (no polling) and fail with what was seen when they time out.
 */
export class Recorder<T> {
  readonly data: T[] = [];
  readonly errors: GqlError[] = [];
  completed = false;
  private readonly waiters: { check: () => boolean; resolve: () => void }[] = [];
  readonly unsubscribe: () => void;
  /** Resolves when the server completes the subscription or fails it. */
  readonly ended: Promise<void>;
  private end!: () => void;

  constructor(
    handle: WsClientHandle,
    query: string,
    variables: Record<string, unknown>,
    pick: (data: Record<string, unknown>) => T,
  ) {
    this.ended = new Promise((resolve) => (this.end = resolve));
    this.unsubscribe = handle.client.subscribe(
      { query, variables },
      {
        next: (result) => {
          if (result.errors?.length) this.errors.push(...(result.errors as GqlError[]));
          if (result.data) this.data.push(pick(result.data));
          this.notify();
        },
        error: (error) => {
          if (Array.isArray(error)) this.errors.push(...(error as GqlError[]));
          else this.errors.push({ message: String((error as { reason?: string })?.reason ?? error) });
          this.completed = true;
          this.notify();
          this.end();
        },
        complete: () => {
          this.completed = true;
          this.notify();
          this.end();
        },
      },
    );
  }

  until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `timed out waiting for ${what}; saw ${this.data.length} events, errors ${JSON.stringify(this.errors)}, completed ${this.completed}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  count(n: number, timeoutMs?: number): Promise<void> {
    return this.until(() => this.data.length >= n, `${n} events`, timeoutMs);
  }

  done(timeoutMs?: number): Promise<void> {
    return this.until(() => this.completed, 'completion', timeoutMs);
  }

  firstError(timeoutMs?: number): Promise<GqlError> {
    return this.until(() => this.errors.length > 0, 'an error', timeoutMs).then(() => this.errors[0]);
  }

  private notify(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].check()) {
        this.waiters[i].resolve();
        this.waiters.splice(i, 1);
      }
    }
  }
}

export const MESSAGE_ADDED = `subscription($chatId: ID!, $afterSeq: Int) {
  messageAdded(chatId: $chatId, afterSeq: $afterSeq) { id seq content chatId createdAt user { id firstName } }
}`;

export interface LiveMessage {
  id: string;
  seq: number;
  content: string;
}

export function messages(handle: WsClientHandle, chatId: string, afterSeq?: number): Recorder<LiveMessage> {
  return new Recorder<LiveMessage>(handle, MESSAGE_ADDED, { chatId, afterSeq }, (d) => d.messageAdded as LiveMessage);
}
