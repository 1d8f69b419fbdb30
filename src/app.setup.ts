import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppConfig } from './config/app-config';
import { HealthService } from './health/health.service';
import { httpErrorHandler } from './http-errors';
import { servePublicFiles } from './web/public-files';
import { isGraphqlUrl } from './graphql/graphql-path';

/**
 * What the HTTP server does around Nest's modules: the error handler, the pages, and the upgrade guard. main.ts
 * runs it on the app it starts, and a test that builds the app module with a provider overridden runs it too, so
 * both serve the same HTTP. Express reads no request bodies and no client addresses: GraphqlHttpTransport reads
 * /graphql's bodies, and RequestContexts decides the client address (TRUST_PROXY) for every transport.
 */
export async function setUpApp(app: NestExpressApplication, config: AppConfig): Promise<void> {
  // Whatever fails in Express is answered here, in the API's error shape, before Nest's own error handler would.
  app.use(httpErrorHandler);
  app.disable('x-powered-by');
  servePublicFiles(app, config);
  await app.init();

  const health = app.get(HealthService);
  // Runs before graphql-ws's own listener. Upgrades to anything but /graphql would otherwise hang until the
  // client gives up; a draining instance answers 503 so the balancer retries the handshake on another one
  // (a keep-alive connection from the balancer can still carry an upgrade after the listener has closed).
  app.getHttpServer().prependListener('upgrade', (req: IncomingMessage, socket: Duplex) => {
    if (!isGraphqlUrl(req.url)) return void socket.destroy();
    if (health.isDraining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
}
