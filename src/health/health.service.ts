import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { EventBus } from '../pubsub/event-bus';

/** Readiness beyond the database: the event bus, and whether this instance is draining. */
@Injectable()
export class HealthService {
  private draining = false;

  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly bus: EventBus,
  ) {}

  markDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async busCheck(timeoutMs: number): Promise<HealthIndicatorResult> {
    const check = this.indicators.check('bus');
    const healthy = await Promise.race([
      this.bus.isHealthy().catch(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref()),
    ]);
    return healthy ? check.up() : check.down('the event bus (Redis) is unreachable');
  }

  acceptingCheck(): HealthIndicatorResult {
    const check = this.indicators.check('accepting');
    return this.draining ? check.down('draining for shutdown') : check.up();
  }
}
