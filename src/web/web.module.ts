import { Logger, MiddlewareConsumer, Module, NestModule, OnModuleInit, RequestMethod } from '@nestjs/common';
import { IdePageMiddleware } from './ide-page.middleware';
import { publicFilesBuilt } from './public-files';

/**
 * Owns the browser pages that scripts/build-web.mjs bundles from web/ into dist/public: the chat page at `/`
 * (its files are served by `servePublicFiles`, from main.ts) and the GraphQL IDE for browser GETs of /graphql.
 */
@Module({})
export class WebModule implements NestModule, OnModuleInit {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(IdePageMiddleware).forRoutes({ path: 'graphql', method: RequestMethod.GET });
  }

  onModuleInit(): void {
    if (!publicFilesBuilt()) {
      new Logger(WebModule.name).warn('dist/public is missing (run npm run build): no chat page and no IDE');
    }
  }
}
