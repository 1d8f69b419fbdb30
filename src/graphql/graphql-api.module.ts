import { ApolloServerPlugin } from '@apollo/server';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import type { Request } from 'express';
import { GraphQLSchema } from 'graphql';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import { RequestContext } from '../common/request-context';
import { UsersModule } from '../users/users.module';
import { MetricsService } from '../metrics/metrics.service';
import { UsersService } from '../users/users.service';
import { checkComplexity } from './complexity';
import { depthLimitRule } from './depth-limit.rule';
import { formatError } from './format-error';
import { createWsServerOptions } from './ws-server.options';

/**
 * Subscription fields whose events are immutable and the same for every subscriber, so the fastlane may share
 * one execution per event and selection. A field whose result depends on the viewer must never be listed.
 */
const FASTLANE_FIELDS: ReadonlySet<string> = new Set(['messageAdded']);

/** The committed, generated SDL at the project root (from dist/graphql or src/graphql alike). */
const SCHEMA_FILE = join(__dirname, '..', '..', 'schema.gql');

/**
 * Owns the GraphQL driver: Apollo over HTTP, graphql-ws over WebSocket, one context builder for both,
 * validation limits, and error formatting.
 */
@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      imports: [UsersModule],
      inject: [AppConfig, UsersService, MetricsService],
      useFactory: (config: AppConfig, users: UsersService, metrics: MetricsService): ApolloDriverConfig => {
        let schema: GraphQLSchema | undefined;
        const captureSchema: ApolloServerPlugin = {
          serverWillStart: async ({ schema: started }) => {
            schema = started;
          },
        };
        const limitComplexity: ApolloServerPlugin<RequestContext> = {
          requestDidStart: async () => ({
            didResolveOperation: async ({ request, document, schema: opSchema }) => {
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
          plugins: [captureSchema, limitComplexity],
          formatError,
          context: async ({ req }: { req: Request }): Promise<RequestContext> => ({
            viewer: await users.authenticate(req.headers.authorization),
            clientKey: req.ip ?? req.socket.remoteAddress ?? 'unknown',
          }),
          subscriptions: {
            'graphql-ws': createWsServerOptions(
              users,
              config,
              metrics,
              () => {
                if (!schema) throw new Error('GraphQL schema is not ready');
                return schema;
              },
              FASTLANE_FIELDS,
            ),
          },
        };
      },
    }),
  ],
})
export class GraphqlApiModule {}
