import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Client, ClientConfig } from 'pg';
import { AppConfig } from '../config/app-config';
import { EmbeddedPostgres } from './embedded-postgres';

export interface NotificationListener {
  /** One NOTIFY on the channel, with its payload. */
  notified(payload: string): void;
  /** The listening connection was lost and is back: notifications sent meanwhile are gone, re-read instead. */
  missed(): void;
}

const RECONNECT_MS = [100, 500, 1000, 2000, 5000];

/**
 * PostgreSQL's LISTEN/NOTIFY for the rest of the app: what a trigger announces reaches every instance at once.
 * One dedicated connection (a pooled one cannot hold a LISTEN), re-opened with backoff when it drops; to the
 * PostgreSQL of DATABASE_URL, or to the embedded one.
 */
@Injectable()
export class DatabaseNotifications implements OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseNotifications.name);
  private readonly listeners = new Map<string, NotificationListener[]>();
  private client?: Client;
  private connecting?: Promise<void>;
  private mayHaveMissed = false;
  private attempt = 0;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly config: AppConfig,
    private readonly embedded: EmbeddedPostgres,
  ) {}

  /** Resolves once the channel is listened to (or, with PostgreSQL away, once a retry is scheduled). */
  async listen(channel: string, listener: NotificationListener): Promise<void> {
    const known = this.listeners.get(channel);
    if (known) {
      known.push(listener);
      return;
    }
    this.listeners.set(channel, [listener]);
    if (this.client) await this.client.query(`LISTEN ${quoteIdent(channel)}`);
    // A pending retry listens to every channel when it connects.
    else if (!this.retryTimer) await (this.connecting ??= this.connect());
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    let client: Client | undefined;
    try {
      // Inside the try: the embedded server's target throws while that server is not running.
      const target: ClientConfig = this.config.databaseUrl
        ? { connectionString: this.config.databaseUrl }
        : this.embedded.connection;
      const opened = (client = new Client({ ...target, application_name: `chat-${this.config.instanceId}:listen` }));
      opened.on('notification', (message) => this.deliver(message.channel, message.payload ?? ''));
      opened.on('error', (error) => this.logger.warn(`listening connection: ${error.message}`));
      opened.on('end', () => {
        if (this.client === opened) this.client = undefined;
        this.retry();
      });
      await opened.connect();
      for (const channel of this.listeners.keys()) await opened.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (error) {
      this.logger.warn(`could not listen for notifications: ${(error as Error).message}`);
      this.mayHaveMissed = true;
      await client?.end().catch(() => undefined);
      this.retry();
      return;
    } finally {
      this.connecting = undefined;
    }
    this.client = client;
    this.attempt = 0;
    if (this.mayHaveMissed) {
      this.logger.warn('listening connection is back; listeners re-read what they may have missed');
      for (const listeners of this.listeners.values()) for (const listener of listeners) listener.missed();
    }
    // From now on, any gap in this connection is a gap in what listeners heard.
    this.mayHaveMissed = true;
  }

  private retry(): void {
    if (this.closed || this.retryTimer) return;
    const delay = RECONNECT_MS[Math.min(this.attempt++, RECONNECT_MS.length - 1)];
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.client) void (this.connecting ??= this.connect());
    }, delay);
    this.retryTimer.unref();
  }

  private deliver(channel: string, payload: string): void {
    for (const listener of this.listeners.get(channel) ?? []) listener.notified(payload);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
