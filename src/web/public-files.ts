import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request } from 'express';
import serveStatic from 'serve-static';
import type { ServerResponse } from 'node:http';
import { AppConfig } from '../config/app-config';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where scripts/build-web.mjs puts the bundled pages (the same path from dist/web and src/web). */
export const PUBLIC_DIR = join(__dirname, '..', '..', 'dist', 'public');
export const IDE_PAGE = join(PUBLIC_DIR, 'ide.html');

/**
 * Everything the pages load comes from this origin. The IDE's editor (GraphiQL, CodeMirror) sets inline styles
 * and embeds its fonts as data: URLs; the chat page needs neither, so it gets the stricter policy.
 */
const CHAT_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
const IDE_POLICY = `${CHAT_POLICY}; style-src 'self' 'unsafe-inline'; font-src 'self' data:`;

/**
 * The pages' files revalidate on every load (ETag): they are small next to the IDE bundle, and a deploy is
 * picked up at once without hashed file names.
 */
export function setPageHeaders(res: ServerResponse, page: 'chat' | 'ide'): void {
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Content-Security-Policy', page === 'ide' ? IDE_POLICY : CHAT_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
}

/**
 * Serves dist/public (the chat page at `/`, the bundles). Called before `app.init()`, so it comes ahead of
 * Nest's 404 handler; a file that is not there falls through to that handler's clean JSON 404.
 */
export function servePublicFiles(app: NestExpressApplication, config: AppConfig): void {
  const serve = serveStatic(PUBLIC_DIR, {
    index: 'index.html',
    redirect: false,
    setHeaders: (res: ServerResponse, path: string) => setPageHeaders(res, path.endsWith('ide.html') ? 'ide' : 'chat'),
  });
  // Source maps show the pages' source: production serves none (a request for one gets the 404 of a missing file).
  const noSourceMaps = (req: Request, res: ServerResponse, next: () => void): void => {
    if (isSourceMap(req.path)) next();
    else void serve(req, res, next);
  };
  app.use(config.isProduction ? noSourceMaps : serve);
}

/** As serve-static will read the path: decoded (`/chat.js%2Emap` is the map); one it cannot decode is refused. */
function isSourceMap(path: string): boolean {
  try {
    return decodeURIComponent(path).toLowerCase().endsWith('.map');
  } catch {
    return true;
  }
}

export function publicFilesBuilt(): boolean {
  return existsSync(join(PUBLIC_DIR, 'index.html')) && existsSync(IDE_PAGE);
}
