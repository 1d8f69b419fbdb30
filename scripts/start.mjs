#!/usr/bin/env node
/**
 * `npm start`: builds when dist/ is stale (scripts/build-if-stale.mjs), then runs the app in this very process,
 * so the pid that was started is the app's pid: SIGTERM or SIGINT to it drains and stops the app, and nothing
 * started here outlives it.
 *
 * Under `npm start` the app's parent is the shell npm runs the script in (`sh -c`, which does not exec its
 * command). npm passes SIGTERM and SIGINT on to that shell, which dies of it without passing it on, and the app
 * would be left running under init. So when started by npm, the app stops (as on SIGTERM) once that parent is
 * gone. Run directly (`node scripts/start.mjs`, say under nohup), its parent's lifetime does not matter.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildIfStale, ROOT } from './build-if-stale.mjs';

const PARENT_CHECK_MS = 200;

await buildIfStale({ log: (line) => process.stderr.write(`start: ${line}\n`) });

if (process.env.npm_lifecycle_event === 'start') {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent) return;
    process.stderr.write(`start: npm's shell (pid ${parent}) is gone: stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  }, PARENT_CHECK_MS).unref();
}

await import(pathToFileURL(join(ROOT, 'dist', 'main.js')).href);
