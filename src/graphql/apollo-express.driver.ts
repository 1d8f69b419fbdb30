import { ApolloServer, ApolloServerOptions, BaseContext } from '@apollo/server';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Injectable } from '@nestjs/common';
import { expressMiddleware } from '@as-integrations/express5';
import type { Application, NextFunction, Request, Response } from 'express';

/**
 * Nest's Apollo driver on Express, less the drain plugin it always adds. That plugin keeps a map entry and a
 * close listener for every TCP connection the server accepts, WebSockets included, for as long as each lives:
 * a few hundred bytes per idle subscriber. Draining is done without it: HttpDrain (main.ts) stops accepting,
 * waits for the requests in flight and ends keep-alive connections as they go idle, and GraphqlWsServer closes
 * every WebSocket with 1001.
 */
@Injectable()
export class ApolloExpressDriver extends ApolloDriver {
  protected override async registerExpress(options: ApolloDriverConfig): Promise<void> {
    const httpAdapter = this.httpAdapterHost.httpAdapter;
    // Apollo's Express integration refuses a request without a parsed body (a GET with ?query=, say).
    httpAdapter.use(options.path, (req: Request, _res: Response, next: NextFunction) => {
      req.body = (req.body as unknown) ?? {};
      next();
    });
    const server = new ApolloServer<BaseContext>(options as ApolloServerOptions<BaseContext>);
    await server.start();
    httpAdapter
      .getInstance<Application>()
      .use(options.path!, expressMiddleware(server, { context: options.context as never }));
    this.apolloServer = server;
  }
}
