import { ApolloServer, ApolloServerOptions, BaseContext } from '@apollo/server';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Injectable } from '@nestjs/common';

/**
 * Nest's Apollo driver, starting Apollo Server without mounting it on Express: GraphqlHttpTransport hands it the
 * /graphql requests. It also leaves out the drain plugin the driver always adds, which keeps a map entry and a
 * close listener for every TCP connection the server accepts, WebSockets included, for as long as each lives:
 * draining is HttpDrain's (main.ts) and GraphqlWsServer's.
 */
@Injectable()
export class ApolloHttpDriver extends ApolloDriver {
  protected override async registerExpress(options: ApolloDriverConfig): Promise<void> {
    const server = new ApolloServer<BaseContext>(options as ApolloServerOptions<BaseContext>);
    await server.start();
    this.apolloServer = server;
  }
}
