import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/**
 * Plain SQL on the data source's own pg pool, for the queries on the hot paths (sending, subscribing,
 * authenticating). TypeORM's `dataSource.query` builds and releases a query runner per call, which made it the
 * biggest allocator of a WebSocket subscription; the pool is the same, and so are connections and limits.
 * Failures are pg's own errors (see postgres-errors.ts).
 *
 * Texts are fixed (values go in parameters), and each is a named prepared statement: parsed once per connection,
 * and planned once PostgreSQL settles on a generic plan. Planning the batched insert alone cost PostgreSQL more
 * CPU than running it.
 */
@Injectable()
export class Sql {
  private readonly names = new Map<string, string>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const pool = (this.dataSource.driver as PostgresDriver).master as Pool;
    const result = await pool.query({ name: this.nameOf(text), text, values: params });
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
