import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';

export interface PgConnectionTarget {
  host: string;
  port: number;
  username: string;
  database: string;
}

/**
 * The embedded default: PGlite stored under DATA_DIR, served on a private Unix socket so that the same
 * `pg` driver, migrations and queries run against it as against a real PostgreSQL.
 * PGlite is one backend session; the socket server multiplexes connections onto it without isolating their
 * transactions, so it accepts one connection and the pool keeps exactly one (see DatabaseModule).
 */
@Injectable()
export class EmbeddedPostgres implements OnApplicationShutdown {
  private readonly logger = new Logger(EmbeddedPostgres.name);
  private db?: PGlite;
  private server?: PGLiteSocketServer;
  private socketDir?: string;

  constructor(private readonly config: AppConfig) {}

  async start(): Promise<PgConnectionTarget> {
    const pgDataDir = join(this.config.dataDir, 'pgdata');
    mkdirSync(pgDataDir, { recursive: true });
    this.db = await PGlite.create(pgDataDir);
    // A short private directory: Unix socket paths are limited to ~107 bytes and DATA_DIR may be long.
    this.socketDir = mkdtempSync(join(tmpdir(), 'chat-pg-'));
    const port = 5432;
    this.server = new PGLiteSocketServer({
      db: this.db,
      path: join(this.socketDir, `.s.PGSQL.${port}`),
      maxConnections: 1,
    });
    await this.server.start();
    this.logger.log(`embedded PostgreSQL (PGlite) at ${pgDataDir}`);
    return { host: this.socketDir, port, username: 'postgres', database: 'postgres' };
  }

  /** PGlite's LISTEN: the embedded engine has no other client, so nothing can reach it while it is away. */
  async listen(channel: string, handler: (payload: string) => void): Promise<void> {
    if (!this.db) throw new Error('embedded PostgreSQL is not started');
    await this.db.listen(channel, handler);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.stop().catch(() => undefined);
    await this.db?.close().catch(() => undefined);
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
  }
}
