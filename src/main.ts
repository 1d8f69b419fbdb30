import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { setUpApp } from './app.setup';
import { AppConfig } from './config/app-config';
import { GraphqlWsServer } from './graphql/ws-server';
import { ConfigError } from './config/config.schema';
import { HealthService } from './health/health.service';
import { HttpDrain } from './http-drain';
import { FrameworkLogDemoter } from './logging/framework-log';
import { describeBus, describeDatabase } from './logging/startup-summary';
import { hostPort } from './common/host-port';

async function bootstrap(): Promise<void> {
  let config: AppConfig;
  try {
    config = AppConfig.fromEnvironment();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(new FrameworkLogDemoter(app.get(PinoLogger)));
  await setUpApp(app, config);
  const drain = new HttpDrain(app.getHttpServer());

  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const logger = new Logger('Bootstrap');
  // Before the line that tells a watcher the instance is up: a signal sent on seeing it must drain the instance,
  // not find the default action (killed on the spot) still in place.
  installShutdown(app, drain, config, logger);
  logger.log(`instance ${config.instanceId} listening on http://${hostPort(config.host, port)}`);
  logger.log(`database: ${describeDatabase(config)}`);
  logger.log(`bus: ${describeBus(config)}`);
  for (const broken of config.promisesBroken) logger.warn(broken);
  // Last line of defence: a promise some library let go of must not take every client's connection down.
  process.on('unhandledRejection', (reason: unknown) => {
    logger.error(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  });
}

/**
 * SIGTERM/SIGINT: report not ready, close every WebSocket with 1001 (clients reconnect elsewhere), stop accepting
 * and answer the requests in flight (cutting those still unanswered at half the timeout), then close (modules
 * release what they hold), and exit 0; past the timeout, exit 1 rather than hang.
 */
function installShutdown(app: NestExpressApplication, drain: HttpDrain, config: AppConfig, logger: Logger): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: draining`);
    app.get(HealthService).markDraining();
    setTimeout(() => {
      logger.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    // WebSockets go at once, whatever HTTP is doing: their clients reconnect elsewhere, and their presence leaves.
    app.get(GraphqlWsServer).goAway();
    // Stop accepting, so the balancer sends new connections (reconnecting clients among them) elsewhere, and let
    // the requests in flight be answered, for half the time there is, before the modules they need go; Nest's own
    // close of the server later finds it already closed.
    drain
      .close(config.shutdownTimeoutMs / 2)
      .then(() => app.close())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error(`shutdown failed: ${String(error)}`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(`failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
