import { ApolloServerPlugin } from '@apollo/server';
import { ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { GraphQLError, OperationTypeNode } from 'graphql';
import type { Request } from 'express';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import { RequestContext } from '../common/request-context';
import { LoggingModule } from '../logging/logging.module';
import { UsersModule } from '../users/users.module';
import { UsersService } from '../users/users.service';
import { ApolloExpressDriver } from './apollo-express.driver';
import { checkComplexity } from './complexity';
import { depthLimitRule } from './depth-limit.rule';
import { formatError } from './format-error';
import { GraphqlHttpHandler } from './http-handler';
import { OperationPreparer } from './operation-preparer';
import { GraphqlWsServer } from './ws-server';

/** The committed, generated SDL at the project root (from dist/graphql or src/graphql alike). */
const SCHEMA_FILE = join(__dirname, '..', '..', 'schema.gql');

/**
 * Owns the GraphQL API: JSON POSTs to /graphql answered directly (GraphqlHttpHandler), Apollo through the driver
 * for every other HTTP request, graphql-ws over WebSocket (GraphqlWsServer); the same viewer context,
 * validation limits and error formatting for all three.
 */
@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloExpressDriver,
      imports: [UsersModule],
      inject: [AppConfig, UsersService],
      useFactory: (config: AppConfig, users: UsersService): ApolloDriverConfig => {
        // Over HTTP, Apollo would execute a subscription as a query and fail inside it (an internal error).
        const requestLimits: ApolloServerPlugin<RequestContext> = {
          requestDidStart: async () => ({
            didResolveOperation: async ({ request, document, operation, schema: opSchema }) => {
              if (operation?.operation === OperationTypeNode.SUBSCRIPTION) {
                throw new GraphQLError('Subscriptions are served over WebSocket (graphql-ws), not HTTP', {
                  extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
                });
              }
              const error = checkComplexity(
                opSchema,
                document,
                request.operationName,
                request.variables,
                config.graphql.maxComplexity,
              );
              if (error) throw error;
            },
          }),
        };
        return {
          // In production the image is read-only for the app user; the SDL is generated in development and CI.
          autoSchemaFile: config.isProduction ? true : SCHEMA_FILE,
          sortSchema: true,
          path: '/graphql',
          playground: false,
          introspection: config.graphql.introspection,
          includeStacktraceInErrorResponses: false,
          validationRules: [depthLimitRule(config.graphql.maxDepth)],
          plugins: [requestLimits],
          formatError,
          context: async ({ req }: { req: Request }): Promise<RequestContext> => ({
            viewer: await users.authenticate(req.headers.authorization),
            clientKey: req.ip ?? req.socket.remoteAddress ?? 'unknown',
          }),
        };
      },
    }),
    UsersModule,
    LoggingModule,
  ],
  providers: [OperationPreparer, GraphqlWsServer, GraphqlHttpHandler],
})
export class GraphqlApiModule {}
