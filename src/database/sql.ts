import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { AppConfig } from '../config/app-config';

/**
 * Plain SQL on the data source's own pg pool, for the queries on the hot paths (sending, subscribing,
 * authenticating). TypeORM's `dataSource.query` builds and releases a query runner per call, which made it the
 * biggest allocator of a WebSocket subscription; the pool is the same, so are connections, limits and the
 * embedded engine. Failures are pg's own errors (see postgres-errors.ts).
 *
 * Texts are fixed (values go in parameters), and on PostgreSQL each is a named prepared statement: parsed once
 * per connection, and planned once PostgreSQL settles on a generic plan. Planning the batched insert alone cost
 * PostgreSQL more CPU than running it. The embedded engine serves every connection from one session, so a
 * statement named by a closed connection would collide with its successor's: there texts go unnamed.
 */
@Injectable()
export class Sql {
  private readonly names = new Map<string, string>();
  private readonly prepare: boolean;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    config: AppConfig,
  ) {
    this.prepare = config.databaseUrl !== undefined;
  }

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const pool = (this.dataSource.driver as PostgresDriver).master as Pool;
    const result = this.prepare
      ? await pool.query({ name: this.nameOf(text), text, values: params })
      : await pool.query(text, params);
    return result.rows as T[];
  }

  /** Derived from the text, so every Sql on a pool gives one text one name (pg refuses a name reused). */
  private nameOf(text: string): string {
    let name = this.names.get(text);
    if (name === undefined) {
      name = `sql_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
      this.names.set(text, name);
    }
    return name;
  }
}
