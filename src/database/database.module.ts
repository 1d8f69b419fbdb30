import { Global, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { DatabaseNotifications } from './database-notifications';
import { EMBEDDED_POOL_SIZE, EmbeddedPostgres } from './embedded-postgres';
import { runMigrationsLocked } from './migration-runner';
import { MIGRATIONS } from './migrations';
import { Sql } from './sql';

@Module({ providers: [EmbeddedPostgres], exports: [EmbeddedPostgres] })
class EmbeddedPostgresModule {}

/**
 * Owns the TypeORM data source: the PostgreSQL of DATABASE_URL when set, the embedded PostgreSQL otherwise; `Sql`,
 * plain queries on its pool; and DatabaseNotifications, what triggers announce. Global, like the data source
 * TypeORM registers.
 */
@Global()
@Module({
  providers: [Sql, DatabaseNotifications],
  exports: [Sql, DatabaseNotifications],
  imports: [
    EmbeddedPostgresModule,
    TypeOrmModule.forRootAsync({
      imports: [EmbeddedPostgresModule],
      inject: [AppConfig, EmbeddedPostgres],
      useFactory: async (config: AppConfig, embedded: EmbeddedPostgres): Promise<DataSourceOptions> => {
        const common = {
          type: 'postgres' as const,
          migrations: MIGRATIONS,
          // Entities come from each feature's TypeOrmModule.forFeature; the schema only from migrations.
          autoLoadEntities: true,
          synchronize: false,
          migrationsRun: false,
          logging: false,
          applicationName: `chat-${config.instanceId}`,
        };
        if (config.databaseUrl) {
          return { ...common, url: config.databaseUrl, extra: { max: 20, connectionTimeoutMillis: 5000 } };
        }
        const { user, ...target } = await embedded.start();
        return { ...common, ...target, username: user, extra: { max: EMBEDDED_POOL_SIZE } };
      },
      dataSourceFactory: async (options) => {
        const dataSource = await new DataSource(options!).initialize();
        await runMigrationsLocked(dataSource);
        return dataSource;
      },
    }),
  ],
})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(
    private readonly embedded: EmbeddedPostgres,
    private readonly dataSource: DataSource,
  ) {}

  /**
   * The embedded server stops last. Nest runs this module's hook after its providers' (DatabaseNotifications
   * closes its connection); the pool is closed here first rather than left to TypeORM's own hook, whose turn
   * among modules Nest does not promise (that hook then finds it closed).
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy().catch(() => undefined);
    await this.embedded.stop();
  }
}
