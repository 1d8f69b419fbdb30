#!/usr/bin/env node
/**
 * `npm start`: builds when dist/ is stale (scripts/build-if-stale.mjs), then runs the app in this very process,
 * so the pid that was started is the app's pid: SIGTERM or SIGINT to it drains and stops the app, and nothing
 * started here outlives it.
 *
 * Under `npm start`, SIGTERM to npm reaches only the shell npm runs this in, which dies without passing it on
 * (scripts/npm-parent.mjs): the app then stops as on SIGTERM, so nothing is left running.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildIfStale, ROOT } from './build-if-stale.mjs';
import { whenNpmParentGone } from './npm-parent.mjs';

await buildIfStale({ log: (line) => process.stderr.write(`start: ${line}\n`) });

whenNpmParentGone('start', (parent) => {
  process.stderr.write(`start: npm's shell (pid ${parent}) is gone: stopping\n`);
  process.kill(process.pid, 'SIGTERM');
});

await import(pathToFileURL(join(ROOT, 'dist', 'main.js')).href);
