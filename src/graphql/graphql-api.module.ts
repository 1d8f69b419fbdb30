import { ApolloServerPlugin } from '@apollo/server';
import { ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { GraphQLError, OperationTypeNode } from 'graphql';
import type { Request } from 'express';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import { RequestContext } from '../common/request-context';
import { Admission } from './admission';
import { ApolloExpressDriver } from './apollo-express.driver';
import { ErrorFormatter } from './format-error';
import { GraphqlPipelineModule } from './graphql-pipeline.module';
import { RequestContexts } from './request-contexts';
import { GraphqlWsServer } from './ws-server';

/** The committed, generated SDL at the project root (from dist/graphql or src/graphql alike). */
const SCHEMA_FILE = join(__dirname, '..', '..', 'schema.gql');

/** Over HTTP, Apollo would execute a subscription as a query and fail inside it (an internal error). */
const subscriptionsOverWebSocketOnly: ApolloServerPlugin<RequestContext> = {
  requestDidStart: async () => ({
    didResolveOperation: async ({ operation }) => {
      if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return;
      throw new GraphQLError('Subscriptions are served over WebSocket (graphql-ws), not HTTP', {
        extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
      });
    },
  }),
};

/**
 * The GraphQL API: one pipeline, two transports. Every operation is admitted by Admission (parse with a token
 * limit, graphql-js's rules plus ADMISSION_RULES), runs with a context from RequestContexts, and has its errors
 * formatted and logged by ErrorFormatter. Apollo Server carries HTTP (`POST /graphql`, `GET /graphql?query=`)
 * and is configured from those three; GraphqlWsServer carries graphql-ws and calls the same three.
 */
@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloExpressDriver,
      imports: [GraphqlPipelineModule],
      inject: [AppConfig, Admission, RequestContexts, ErrorFormatter],
      useFactory: (
        config: AppConfig,
        admission: Admission,
        contexts: RequestContexts,
        errors: ErrorFormatter,
      ): ApolloDriverConfig => ({
        // In production the image is read-only for the app user; the SDL is generated in development and CI.
        autoSchemaFile: config.isProduction ? true : SCHEMA_FILE,
        sortSchema: true,
        path: '/graphql',
        playground: false,
        // Admission's rules refuse introspection when it is off, on every transport.
        introspection: true,
        includeStacktraceInErrorResponses: false,
        parseOptions: admission.parseOptions,
        validationRules: admission.validationRules,
        plugins: [subscriptionsOverWebSocketOnly],
        formatError: errors.format,
        context: ({ req }: { req: Request }): Promise<RequestContext> => contexts.forRequest(req),
      }),
    }),
    GraphqlPipelineModule,
  ],
  providers: [GraphqlWsServer],
})
export class GraphqlApiModule {}
