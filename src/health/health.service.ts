import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { EventBus } from '../pubsub/event-bus';

const CHECK_TIMEOUT_MS = 2000;

/** Readiness checks; a check that hangs counts as failed. */
@Injectable()
export class HealthService {
  private draining = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly bus: EventBus,
  ) {}

  markDraining(): void {
    this.draining = true;
  }

  async readiness(): Promise<Record<string, boolean>> {
    const [database, bus] = await Promise.all([
      withTimeout(this.dataSource.query('SELECT 1').then(() => true)),
      withTimeout(this.bus.isHealthy()),
    ]);
    return { database, bus, accepting: !this.draining };
  }
}

function withTimeout(check: Promise<boolean>): Promise<boolean> {
  return Promise.race([
    check.catch(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CHECK_TIMEOUT_MS).unref()),
  ]);
}
