import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { IDE_PAGE, publicFilesBuilt, setPageHeaders } from './public-files';

/**
 * A browser opening /graphql gets the IDE. Only such requests reach Express at /graphql: GraphqlHttpTransport
 * hands every other one (POST, GET with `query`, a client asking for JSON) to Apollo.
 */
@Injectable()
export class IdePageMiddleware implements NestMiddleware {
  private readonly built = publicFilesBuilt();

  use(_req: Request, res: Response, next: NextFunction): void {
    if (!this.built) return next();
    setPageHeaders(res, 'ide');
    res.sendFile(IDE_PAGE, (error) => {
      if (error) next(error);
    });
  }
}
