import { ApolloServerOptions, ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloDriverConfig } from '@nestjs/apollo';
import { Logger, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { GraphQLError, GraphQLSchema, OperationTypeNode } from 'graphql';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../logging/log-errors';
import { RequestContext } from '../common/request-context';
import { LoggingModule } from '../logging/logging.module';
import { Admission } from './admission';
import { ApolloHttpDriver } from './apollo-http.driver';
import { ErrorFormatter } from './format-error';
import { GraphqlPipelineModule } from './graphql-pipeline.module';
import { GRAPHQL_PATH } from './graphql-path';
import { GraphqlHttpTransport } from './http-transport';
import { ResolverErrorsFilter } from './resolver-errors.filter';
import { GraphqlWsServer } from './ws-server';
import { UsersModule } from '../users/users.module';

/** The committed, generated SDL at the project root (from dist/graphql or src/graphql alike). */
const SCHEMA_FILE = join(__dirname, '..', '..', 'schema.gql');

/** Apollo's own log lines (an unexpected error processing a request, say), through Nest's logger, as errorMessage cuts them. */
function apolloLogger(): NonNullable<ApolloServerOptions<RequestContext>['logger']> {
  const logger = new Logger('Apollo');
  const line = (parts: unknown[]) => parts.map(errorMessage).join(' ');
  return {
    debug: (...parts: unknown[]) => logger.debug(line(parts)),
    info: (...parts: unknown[]) => logger.log(line(parts)),
    warn: (...parts: unknown[]) => logger.warn(line(parts)),
    error: (...parts: unknown[]) => logger.error(line(parts)),
  };
}

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

/** Variables are admitted over HTTP as over graphql-ws (Admission.variableRefusal), before anything executes. */
function admittedVariables(admission: Admission): ApolloServerPlugin<RequestContext> {
  return {
    requestDidStart: async () => ({
      didResolveOperation: async ({ schema, operation, request }) => {
        const refused = operation && admission.variableRefusal(schema, operation, request.variables);
        if (refused) throw refused;
      },
    }),
  };
}

/**
 * Nest's code-first decorators describe every type but the root ones, where the IDE's documentation starts. Set on
 * the built schema (the generated SDL included); a description changes nothing in how operations run.
 */
function describeRootTypes(schema: GraphQLSchema): GraphQLSchema {
  const query = schema.getQueryType();
  const mutation = schema.getMutationType();
  const subscription = schema.getSubscriptionType();
  if (query) query.description = 'reads; every query needs a token (`Authorization: Bearer <token>`)';
  if (mutation) mutation.description = 'changes; signUp and signIn are the only operations that need no token';
  if (subscription) {
    subscription.description =
      'live feeds, over graphql-ws only (subprotocol graphql-transport-ws), the token in connectionParams.authorization';
  }
  return schema;
}

/**
 * The GraphQL API: one pipeline, two transports. Every operation is admitted by Admission (parse with a token
 * limit, graphql-js's rules plus ADMISSION_RULES), runs with a context from RequestContexts, and has its errors
 * formatted and logged by ErrorFormatter. GraphqlHttpTransport asks Admission, then hands HTTP (`POST /graphql`,
 * `GET /graphql?query=`) to Apollo Server, configured from those three; GraphqlWsServer carries graphql-ws and
 * calls the same three.
 */
@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloHttpDriver,
      imports: [GraphqlPipelineModule],
      inject: [AppConfig, Admission, ErrorFormatter],
      useFactory: (config: AppConfig, admission: Admission, errors: ErrorFormatter): ApolloDriverConfig => ({
        // In production the image is read-only for the app user; the SDL is generated in development and CI.
        autoSchemaFile: config.isProduction ? true : SCHEMA_FILE,
        sortSchema: true,
        transformSchema: describeRootTypes,
        transformAutoSchemaFile: true,
        path: GRAPHQL_PATH,
        playground: false,
        // Admission's rules refuse introspection when it is off, on every transport.
        introspection: true,
        includeStacktraceInErrorResponses: false,
        logger: apolloLogger(),
        // Apollo refuses a request a page on another site could send without a CORS preflight (a GET, a form's
        // POST) unless it carries one of these headers. The API authenticates by the Authorization header alone,
        // never a cookie, and that header always needs a preflight, so a request with it needs nothing more.
        csrfPrevention: { requestHeaders: ['authorization', 'apollo-require-preflight', 'x-apollo-operation-name'] },
        parseOptions: admission.parseOptions,
        validationRules: admission.validationRules,
        plugins: [
          subscriptionsOverWebSocketOnly,
          admittedVariables(admission),
          // Apollo's default cache-control plugin wraps every field resolver to compute a cache policy that nothing
          // here uses (responses are per viewer); without it, resolvers run unwrapped.
          ApolloServerPluginCacheControlDisabled(),
        ],
        formatError: errors.format,
      }),
    }),
    GraphqlPipelineModule,
    LoggingModule,
    UsersModule,
  ],
  providers: [GraphqlHttpTransport, GraphqlWsServer, { provide: APP_FILTER, useClass: ResolverErrorsFilter }],
})
export class GraphqlApiModule {}
