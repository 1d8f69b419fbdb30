import { Injectable, Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import pino, { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { AppConfig } from '../config/app-config';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** One pino instance per configuration: the app's logger and the HTTP request logger write through it. */
const loggers = new WeakMap<AppConfig, Logger>();
function loggerFor(config: AppConfig): Logger {
  let logger = loggers.get(config);
  if (!logger) {
    logger = pino({
      level: config.logLevel,
      base: { instance: config.instanceId },
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    });
    loggers.set(config, logger);
  }
  return logger;
}

/** The request's id: the client's X-Request-Id when it is sane, a fresh one otherwise; sent back as X-Request-Id. */
function requestIdFor(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('x-request-id', id);
  return id;
}

function levelFor(statusCode: number, error?: Error): 'error' | 'warn' | 'debug' {
  return error || statusCode >= 500 ? 'error' : statusCode >= 400 ? 'warn' : 'debug';
}

/**
 * The request log line: pino-http with the request id (the client's X-Request-Id when it is sane, a fresh one
 * otherwise, sent back as X-Request-Id), the method and the path. Successful requests log at debug, so normal
 * operation is quiet at the default level; client errors at warn; server errors at error. The HTTP server's
 * request listener (GraphqlHttpTransport) calls it for every request, whoever answers it.
 */
@Injectable()
export class HttpRequestLog {
  readonly log: (req: IncomingMessage, res: ServerResponse) => void;

  constructor(config: AppConfig) {
    this.log = pinoHttp({
      logger: loggerFor(config),
      genReqId: requestIdFor,
      customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) => levelFor(res.statusCode, error),
      serializers: {
        // The path only: a GET /graphql carries its operation and variables (a password, say) in the query.
        req: (req: { id: string; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url.split('?', 1)[0],
        }),
      },
    });
  }
}

/**
 * Structured JSON logs (pino) carrying the instance id and, for HTTP, a request id.
 *
 * The request logger is plain pino-http, not nestjs-pino's middleware: that one runs every request inside an
 * AsyncLocalStorage, and once any AsyncLocalStorage is in use Node tags every promise the process creates
 * (WebSocket work included) with its store, which cost about a tenth of the CPU of a small request and
 * kilobytes of garbage per WebSocket subscription. Lines logged from inside a request therefore do not carry
 * its id; the request's own line does.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ pinoHttp: { logger: loggerFor(config) }, forRoutes: [] }),
    }),
  ],
  providers: [HttpRequestLog],
  exports: [HttpRequestLog],
})
export class LoggingModule {}
