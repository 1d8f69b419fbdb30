import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';
import { ConfigError } from './config/config.schema';
import { httpErrorHandler } from './http-errors';

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
    logger: config.logLevel === 'silent' ? false : undefined,
  });
  app.useBodyParser('json', { limit: config.httpBodyLimit });
  app.set('trust proxy', 'loopback, uniquelocal');
  app.disable('x-powered-by');
  app.enableShutdownHooks();
  await app.init();
  app.use(httpErrorHandler);

  // Upgrades to anything but /graphql would otherwise hang until the client gives up.
  app.getHttpServer().on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    if (!req.url?.startsWith('/graphql')) socket.destroy();
  });

  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  new Logger('Bootstrap').log(`instance ${config.instanceId} listening on http://${host}:${port}`);
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(`failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
