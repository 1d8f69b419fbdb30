import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import bytes from 'bytes';
import { execute, OperationTypeNode } from 'graphql';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import proxyaddr from 'proxy-addr';
import { AppConfig } from '../config/app-config';
import { RequestContext } from '../common/request-context';
import { httpErrorBody } from '../http-errors';
import { RequestLog } from '../logging/logging.module';
import { UsersService } from '../users/users.service';
import { formatResultErrors } from './format-error';
import { isPlainObject, OperationPreparer } from './operation-preparer';

const GRAPHQL_PATH = '/graphql';
const JSON_CONTENT_TYPE = /^application\/json\s*(;\s*charset="?utf-8"?\s*)?$/i;

/** What Express's request handling expects of a request whose body was already read (body-parser skips it). */
type ReadRequest = IncomingMessage & { body?: unknown };
type TrustProxy = (address: string, hop: number) => boolean;

/**
 * POST /graphql with a JSON body, what nearly every client sends, answered here: the body is read, the operation
 * prepared as for graphql-ws (OperationPreparer), executed against the same schema with the same context, and
 * written as Apollo writes it. Through Express, body-parser, pino-http and Apollo's request pipeline, a small
 * operation cost several times the CPU of the operation itself (bench S5).
 *
 * Everything else goes to Express and Apollo as before: other methods, paths and content types, compressed or
 * chunked bodies, a client that asks for application/graphql-response+json, batches, persisted queries, and
 * every request this path would refuse before executing (parse, validation, variables, complexity, operation
 * name), so those answers stay Apollo's own. The body already read is handed over as `req.body`.
 */
@Injectable()
export class GraphqlHttpHandler implements OnApplicationBootstrap {
  private readonly logger = new Logger(GraphqlHttpHandler.name);
  private readonly bodyLimit: number;
  private trustProxy: TrustProxy = () => false;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly operations: OperationPreparer,
    private readonly users: UsersService,
    private readonly requestLog: RequestLog,
    config: AppConfig,
  ) {
    this.bodyLimit = bytes.parse(config.httpBodyLimit) ?? 0;
  }

  /** Puts this handler in front of Express as the server's request listener. */
  onApplicationBootstrap(): void {
    const adapter = this.adapterHost.httpAdapter;
    const server = adapter.getHttpServer() as Server;
    const express = adapter.getInstance<RequestListener & { get(setting: string): unknown }>();
    if (!server.listeners('request').includes(express)) {
      this.logger.warn('Express is not the HTTP request listener; every request goes through Apollo');
      return;
    }
    // Computed by Express from `trust proxy` (main.ts), so the client address is the one Express would give.
    this.trustProxy = express.get('trust proxy fn') as TrustProxy;
    server.removeListener('request', express);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.takes(req)) this.read(req, res, express);
      else express(req, res);
    });
  }

  private takes(req: IncomingMessage): boolean {
    const { headers } = req;
    const length = Number(headers['content-length']);
    const accept = headers.accept;
    return (
      req.method === 'POST' &&
      req.url === GRAPHQL_PATH &&
      JSON_CONTENT_TYPE.test(headers['content-type'] ?? '') &&
      // A declared length within the limit: no chunked body, and an oversized one gets body-parser's 413.
      headers['transfer-encoding'] === undefined &&
      length > 0 &&
      length <= this.bodyLimit &&
      (headers['content-encoding'] === undefined || headers['content-encoding'] === 'identity') &&
      // Apollo negotiates the response type; the plain JSON it picks for these is what this path writes.
      (accept === undefined ||
        (!accept.includes('graphql-response') &&
          !accept.includes('q=') &&
          (accept.includes('application/json') || accept.includes('*/*'))))
    );
  }

  private read(req: ReadRequest, res: ServerResponse, express: RequestListener): void {
    const startedAt = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    // An aborted upload closes the response with it; there is nobody left to answer.
    req.on('error', () => undefined);
    req.on('end', () => {
      this.answer(req, res, Buffer.concat(chunks).toString('utf8'), express, startedAt).catch((error: unknown) => {
        this.logger.error(
          `POST ${GRAPHQL_PATH} failed: ${String(error)}`,
          error instanceof Error ? error.stack : undefined,
        );
        if (!res.headersSent) this.refuse(req, res, 500, startedAt);
        else res.destroy();
      });
    });
  }

  private async answer(
    req: ReadRequest,
    res: ServerResponse,
    text: string,
    express: RequestListener,
    startedAt: number,
  ): Promise<void> {
    let body: unknown;
    try {
      // body-parser drops a byte order mark too.
      body = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch {
      return this.refuse(req, res, 400, startedAt);
    }
    const handOver = () => {
      req.body = body;
      express(req, res);
    };
    if (Array.isArray(body)) return handOver();
    // body-parser's strict mode: a JSON text that is neither an object nor an array is malformed.
    if (!isPlainObject(body)) return this.refuse(req, res, 400, startedAt);
    if (body.extensions != null) return handOver();

    // Prepared before the viewer is looked up, so a request that goes to Apollo is authenticated there only.
    const prepared = this.operations.prepare(body, undefined);
    if ('errors' in prepared || prepared.operation.operation === OperationTypeNode.SUBSCRIPTION) return handOver();
    const viewer = await this.users.authenticate(req.headers.authorization).catch(() => undefined);
    if (viewer === undefined) return handOver();
    const contextValue: RequestContext = { viewer, clientKey: proxyaddr(req, this.trustProxy) || 'unknown' };
    const result = await execute({ ...prepared.args, contextValue });
    // No data: graphql-js refused the variables before any resolver ran, and Apollo answers that with a 400.
    if (!('data' in result)) return handOver();
    // Apollo's order (errors, then data) and its trailing newline; execution errors leave the status at 200.
    const json = JSON.stringify({ errors: formatResultErrors(result), data: result.data }) + '\n';
    this.write(req, res, 200, json, startedAt);
  }

  /** An HTTP-level refusal, in the body httpErrorHandler gives the same refusal on the Express path. */
  private refuse(req: IncomingMessage, res: ServerResponse, status: number, startedAt: number): void {
    this.write(req, res, status, JSON.stringify(httpErrorBody(status)), startedAt);
  }

  private write(req: IncomingMessage, res: ServerResponse, status: number, json: string, startedAt: number): void {
    const id = this.requestLog.assignId(req, res);
    res.writeHead(status, {
      'cache-control': 'no-store',
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
    });
    res.end(json);
    this.requestLog.completed(req, id, status, startedAt);
  }
}
