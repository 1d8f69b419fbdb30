import { Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** Owns the metrics registry; global because every feature counts something, and it depends on nothing. */
@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {}
