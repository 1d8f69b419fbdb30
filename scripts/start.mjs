#!/usr/bin/env node
/**
 * `npm start`: builds when dist/ is stale (scripts/build-if-stale.mjs), then runs the app in this very process,
 * so the pid that was started is the app's pid: SIGTERM or SIGINT to it drains and stops the app, and nothing
 * started here outlives it.
 *
 * `npm start` execs this (package.json), so SIGTERM or SIGINT to npm's pid, which npm passes on, reaches the app;
 * should npm itself go without passing anything on, the app stops as on SIGTERM (scripts/npm-parent.mjs).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildIfStale, ROOT } from './build-if-stale.mjs';
import { whenNpmParentGone } from './npm-parent.mjs';

await buildIfStale({ log: (line) => process.stderr.write(`start: ${line}\n`) });

whenNpmParentGone('start', (parent) => {
  process.stderr.write(`start: npm (pid ${parent}) is gone: stopping\n`);
  process.kill(process.pid, 'SIGTERM');
});

await import(pathToFileURL(join(ROOT, 'dist', 'main.js')).href);
