import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/**
 * Plain SQL on the data source's own pg pool, for the queries on the hot paths (sending, subscribing,
 * authenticating). TypeORM's `dataSource.query` builds and releases a query runner per call, which made it the
 * biggest allocator of a WebSocket subscription; the pool is the same, so are connections, limits and the
 * embedded engine. Failures are pg's own errors (see postgres-errors.ts).
 */
@Injectable()
export class Sql {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const pool = (this.dataSource.driver as PostgresDriver).master as Pool;
    return (await pool.query(text, params)).rows as T[];
  }
}
