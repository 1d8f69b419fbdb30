import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { IDE_PAGE, publicFilesBuilt, setPageHeaders } from './public-files';

/**
 * A browser opening /graphql gets the IDE; everything else there (POST, GET with `query`, a client asking for
 * JSON, the WebSocket upgrade) goes on to Apollo untouched.
 */
@Injectable()
export class IdePageMiddleware implements NestMiddleware {
  private readonly built = publicFilesBuilt();

  use(req: Request, res: Response, next: NextFunction): void {
    if (!this.built || !wantsPage(req)) return next();
    setPageHeaders(res, 'ide');
    res.sendFile(IDE_PAGE, (error) => {
      if (error) next(error);
    });
  }
}

function wantsPage(req: Request): boolean {
  if (req.method !== 'GET' || req.query.query !== undefined) return false;
  // Browsers list text/html first; curl (*/*) and GraphQL clients get JSON from Apollo as before.
  return req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}
