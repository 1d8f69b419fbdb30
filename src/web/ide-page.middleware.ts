import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { IDE_PAGE, setPageHeaders } from './public-files';

/**
 * A browser opening /graphql gets the IDE. Only such requests reach Express at /graphql: GraphqlHttpTransport
 * hands every other one (POST, GET with `query`, a client asking for JSON, every request when the pages are not
 * built) to Apollo.
 */
@Injectable()
export class IdePageMiddleware implements NestMiddleware {
  use(_req: Request, res: Response, next: NextFunction): void {
    setPageHeaders(res, 'ide');
    res.sendFile(IDE_PAGE, (error) => {
      if (error) next(error);
    });
  }
}
