/**
 * `npm run build`, but only when dist/ is missing or older than what it is built from: `npm start` and
 * `npm run cluster` call it so that a second start is not a second build.
 *
 * Stale means: a file or folder under src/ or web/, or scripts/build-web.mjs, tsconfig*.json or nest-cli.json,
 * changed after the older of dist/main.js (nest build) and dist/public/index.html (build-web, which runs last).
 * Folder times count too, so a deleted source file makes the build stale.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUTS = [join('dist', 'main.js'), join('dist', 'public', 'index.html')];
const SOURCE_DIRS = ['src', 'web'];

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The newest mtime under a folder, the folder itself included. */
function newestUnder(dir) {
  let newest = mtime(dir) ?? 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : (mtime(path) ?? 0));
  }
  return newest;
}

/** Why dist/ needs building (a short reason), or undefined when it is up to date. */
export function staleReason(root = ROOT) {
  const built = OUTPUTS.map((file) => mtime(join(root, file)));
  const missing = OUTPUTS.find((_, i) => built[i] === undefined);
  if (missing) return `${missing} is missing`;
  const builtAt = Math.min(...built);
  const sources = [
    ...SOURCE_DIRS.map((dir) => [`${dir}/`, newestUnder(join(root, dir))]),
    ...readdirSync(root)
      .filter((name) => /^tsconfig.*\.json$/.test(name) || name === 'nest-cli.json')
      .map((name) => [name, mtime(join(root, name)) ?? 0]),
    ['scripts/build-web.mjs', mtime(join(root, 'scripts', 'build-web.mjs')) ?? 0],
  ];
  const changed = sources.filter(([, time]) => time > builtAt).map(([name]) => name);
  return changed.length ? `${changed.join(', ')} changed since the last build` : undefined;
}

/**
 * Runs `npm run build` when dist/ is stale. SIGINT or SIGTERM meanwhile stops the build (npm passes the signal
 * on) and exits with the signal's code, so nothing is left running. Resolves once dist/ is up to date; a failed
 * build exits the process with the build's code.
 */
export async function buildIfStale({ log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const reason = staleReason();
  if (!reason) return false;
  log(`building (${reason})`);
  const npm = process.env.npm_execpath;
  // Under npm, npm_execpath is npm's own CLI script: run it with this node rather than look for npm on PATH.
  const [command, args] = npm ? [process.execPath, [npm, 'run', 'build']] : ['npm', ['run', 'build']];
  const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit' });
  let received;
  const forward = (signal) => {
    received = signal;
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const [code, signal] = await new Promise((resolve) => {
    child.once('error', (error) => {
      log(`could not run the build: ${error.message}`);
      resolve([1, null]);
    });
    child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  const stoppedBy = received ?? signal;
  if (stoppedBy) process.exit(128 + ({ SIGINT: 2, SIGTERM: 15 }[stoppedBy] ?? 1));
  if (code !== 0) {
    log(`build failed (exit code ${code})`);
    process.exit(code ?? 1);
  }
  return true;
}
