import { ApolloServer, HeaderMap, HTTPGraphQLRequest } from '@apollo/server';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { GraphQLModule, GraphQLSchemaHost } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import accepts from 'accepts';
import bodyParser from 'body-parser';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../logging/log-errors';
import { httpErrorBody, statusOf } from '../http-errors';
import { HttpRequestLog } from '../logging/logging.module';
import { publicFilesBuilt } from '../web/public-files';
import { Admission, isPlainObject } from './admission';
import { ApolloHttpDriver } from './apollo-http.driver';
import { GRAPHQL_PATH, isGraphqlUrl } from './graphql-path';
import { ErrorFormatter } from './format-error';
import { RequestContexts } from './request-contexts';

type ParsedRequest = IncomingMessage & { body?: unknown };

/**
 * The HTTP transport, and the server's request listener: every request gets its log line, /graphql goes to
 * Admission (a document it refuses is answered here, formatted by ErrorFormatter) and then to Apollo Server
 * (`executeHTTPGraphQLRequest`: Apollo's own GraphQL-over-HTTP handling, its plugins, context and error
 * formatting), everything else to Express (pages, health, metrics). The body is read by body-parser, as in
 * Apollo's standalone server, which this mirrors. Apollo validates a document again, by the same rules, also for
 * a persisted query's hash, whose text Admission does not see.
 *
 * Why not Apollo's Express integration: behind Express's router and middleware the same Apollo answered a
 * fraction of the requests it answers on its own, and sendMessage over HTTP (bench S5) fell to a third of its
 * rate; the figures are in the commit that made this change.
 */
@Injectable()
export class GraphqlHttpTransport implements OnApplicationBootstrap {
  private readonly logger = new Logger(GraphqlHttpTransport.name);
  private readonly readJson: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;
  private readonly idePage = publicFilesBuilt();
  private apollo?: ApolloServer;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly moduleRef: ModuleRef,
    private readonly contexts: RequestContexts,
    private readonly requestLog: HttpRequestLog,
    private readonly admission: Admission,
    private readonly schemaHost: GraphQLSchemaHost,
    private readonly errors: ErrorFormatter,
    config: AppConfig,
  ) {
    this.readJson = bodyParser.json({ limit: config.httpBodyLimit });
  }

  onApplicationBootstrap(): void {
    const driver = this.moduleRef.get(GraphQLModule<ApolloHttpDriver>, { strict: false }).graphQlAdapter;
    this.apollo = driver.instance;
    const adapter = this.adapterHost.httpAdapter;
    const server = adapter.getHttpServer() as Server;
    const express = adapter.getInstance<RequestListener>();
    server.removeListener('request', express);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.requestLog.log(req, res);
      if (this.takes(req)) this.answer(req, res);
      else express(req, res);
    });
  }

  /** /graphql, but for a browser opening it, which gets the IDE page from Express. */
  private takes(req: IncomingMessage): boolean {
    if (!isGraphqlUrl(req.url)) return false;
    if (!this.idePage || req.method !== 'GET' || queryOf(req) !== undefined) return true;
    // Browsers list text/html first; curl (*/*) and GraphQL clients get Apollo's JSON.
    return accepts(req).type(['application/json', 'application/graphql-response+json', 'text/html']) !== 'text/html';
  }

  private answer(req: ParsedRequest, res: ServerResponse): void {
    this.readJson(req, res, (error?: unknown) => {
      if (error) return this.refuse(res, statusOf(error));
      this.execute(req, res).catch((failure: unknown) => {
        this.logger.error(`${req.method} ${GRAPHQL_PATH} failed: ${errorMessage(failure)}`);
        if (!res.headersSent) this.refuse(res, 500);
        else res.destroy();
      });
    });
  }

  private async execute(req: ParsedRequest, res: ServerResponse): Promise<void> {
    const refused = this.admission.refusal(this.schemaHost.schema, queryOf(req));
    if (refused) return this.refuseOperation(req, res, refused);
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const request: HTTPGraphQLRequest = {
      method: req.method?.toUpperCase() ?? 'GET',
      headers,
      search: query === -1 ? '' : url.slice(query),
      body: req.body,
    };
    const response = await this.apollo!.executeHTTPGraphQLRequest({
      httpGraphQLRequest: request,
      context: () => this.contexts.forRequest(req),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') return void res.end(response.body.string);
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  /** An operation admission refused: 400, its errors formatted as Apollo would, in the type the client accepts. */
  private refuseOperation(req: IncomingMessage, res: ServerResponse, errors: readonly GraphQLError[]): void {
    const json = `${JSON.stringify({ errors: errors.map((error) => this.errors.format(error.toJSON(), error)) })}\n`;
    const accepted = accepts(req).type(['application/json', 'application/graphql-response+json']);
    sendJson(res, 400, json, typeof accepted === 'string' ? accepted : 'application/json');
  }

  /** An HTTP-level refusal (the body could not be read), in the body the rest of the server gives it. */
  private refuse(res: ServerResponse, status: number): void {
    sendJson(res, status, JSON.stringify(httpErrorBody(status)));
  }
}

function sendJson(res: ServerResponse, status: number, json: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** The query text of a GET's `query` parameter or of a POST's JSON body; anything else is Apollo's to refuse. */
function queryOf(req: ParsedRequest): unknown {
  if (req.method === 'GET') {
    const url = req.url ?? '';
    const at = url.indexOf('?');
    return at === -1 ? undefined : (new URLSearchParams(url.slice(at)).get('query') ?? undefined);
  }
  const body = req.body;
  return isPlainObject(body) ? body.query : undefined;
}
