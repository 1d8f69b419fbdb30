import { Controller, Get, Header, NotFoundException } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { HealthCheck, HealthCheckResult, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { METRICS_CONTENT_TYPE, MetricsService } from '../metrics/metrics.service';
import { HealthService } from './health.service';

const CHECK_TIMEOUT_MS = 2000;

@Controller()
export class HealthController {
  constructor(
    private readonly checks: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly health: HealthService,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {}

  /** The process answers. */
  @Get('health/live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.checks.check([]);
  }

  /** PostgreSQL and Redis are reachable and the instance is not draining: send traffic here. */
  @Get('health/ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.checks.check([
      () => this.database.pingCheck('database', { timeout: CHECK_TIMEOUT_MS }),
      () => this.health.busCheck(CHECK_TIMEOUT_MS),
      () => this.health.acceptingCheck(),
    ]);
  }

  /** Here unless METRICS_PORT moves it to a port of its own (MetricsServer), which a balancer never routes. */
  @Get('metrics')
  @Header('content-type', METRICS_CONTENT_TYPE)
  prometheus(): Promise<string> {
    if (this.config.metricsPort !== undefined) throw new NotFoundException();
    return this.metrics.text();
  }
}
