import { Injectable, Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import pino, { Logger } from 'pino';
import PinoPretty from 'pino-pretty';
import { AppConfig } from '../config/app-config';
import { errorForLog } from './log-errors';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * One pino instance per configuration: the app's logger and the HTTP request logger write through it. JSON lines,
 * except on a terminal, where pino-pretty prints them readably (synchronously, so nothing is lost when the
 * process exits).
 */
const loggers = new WeakMap<AppConfig, Logger>();
function loggerFor(config: AppConfig): Logger {
  let logger = loggers.get(config);
  if (!logger) {
    const options = {
      level: config.logLevel,
      base: { instance: config.instanceId },
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      serializers: { err: errorForLog },
    };
    logger = process.stdout.isTTY
      ? pino(
          options,
          PinoPretty({
            sync: true,
            translateTime: 'SYS:HH:MM:ss.l',
            ignore: 'pid,hostname,instance,context',
            messageFormat: '{if context}[{context}] {end}{msg}',
          }),
        )
      : pino(options);
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

function levelFor(statusCode: number): 'error' | 'warn' | 'debug' {
  return statusCode >= 500 ? 'error' : statusCode >= 400 ? 'warn' : 'debug';
}

/**
 * The request log line: the request id (the client's X-Request-Id when it is sane, a fresh one otherwise, sent back
 * as X-Request-Id), the method, the path, the status and the time taken. Successful requests log at debug, so
 * normal operation is quiet at the default level; client errors at warn; server errors at error. The HTTP server's
 * request listener (GraphqlHttpTransport) calls it for every request, whoever answers it.
 *
 * Written here rather than with pino-http, whose middleware builds a child logger (serializing the request) for
 * every request even when its line is off (measurable in bench S5). Nothing is built here for a line whose level
 * is off.
 */
@Injectable()
export class HttpRequestLog {
  private readonly logger: Logger;

  constructor(config: AppConfig) {
    this.logger = loggerFor(config);
  }

  log(req: IncomingMessage, res: ServerResponse): void {
    const id = requestIdFor(req, res);
    const startedAt = Date.now();
    res.on('close', () => {
      const finished = res.writableFinished;
      const level = finished ? levelFor(res.statusCode) : 'warn';
      if (!this.logger.isLevelEnabled(level)) return;
      this.logger[level](
        {
          // The path only: a GET /graphql carries its operation and variables (a password, say) in the query.
          req: { id, method: req.method, url: req.url?.split('?', 1)[0] },
          res: { statusCode: res.statusCode },
          responseTime: Date.now() - startedAt,
        },
        finished ? 'request completed' : 'request aborted',
      );
    });
  }
}

/**
 * Structured JSON logs (pino) carrying the instance id and, for HTTP, a request id.
 *
 * The request log is HttpRequestLog, not nestjs-pino's middleware: that one runs every request inside an
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
