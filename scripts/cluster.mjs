#!/usr/bin/env node
/**
 * A local cluster without Docker: N instances of the built app behind nginx, with the same proxy settings as
 * the compose stack (its nginx.conf is rendered from deploy/nginx.conf, which includes deploy/nginx-proxy.conf).
 *
 *   node scripts/cluster.mjs --instances 3 [--port 8080] [--base-port 3101]   (npm run cluster -- ...)
 *
 * It builds first when dist/ is stale (scripts/build-if-stale.mjs). Instances listen on
 * 127.0.0.1:base-port..base-port+N-1 as INSTANCE_ID=local-1..N and count as started once GET /health/ready answers
 * 200, whatever LOG_LEVEL says. DATABASE_URL, REDIS_URL and JWT_SECRET come from the environment; the default
 * database is chat_local on the local PostgreSQL, created when missing. nginx runs unprivileged from a temporary
 * directory (config, pid, logs, temp files) and listens on 127.0.0.1:port. Ctrl-C, or SIGTERM or SIGINT to this
 * script or to `npm run cluster` (which execs it, so npm passes them on), stops nginx, master and workers, and sends
 * SIGTERM to every instance, waits for them and exits 0 if all of them exited 0. A second Ctrl-C stops at once.
 *
 * SIGHUP performs a rolling restart (after a rebuild, say): one instance at a time gets SIGTERM, must exit 0, is
 * started again on its port under the same INSTANCE_ID, and must report ready before the next one goes. Clients
 * of the stopped instance reconnect through nginx to the others meanwhile. "rolling restart done" is logged at
 * the end ("rolling restart failed: ..." if an instance did not come back, and the cluster stops).
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { buildIfStale } from './build-if-stale.mjs';
import { whenNpmParentGone } from './npm-parent.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const NGINX_TEMPLATE = join(ROOT, 'deploy', 'nginx.conf');
const NGINX_PROXY = join(ROOT, 'deploy', 'nginx-proxy.conf');
const NGINX = '/usr/sbin/nginx';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
/** How long nginx gets to finish open requests (SIGQUIT) before it is told to stop at once (SIGTERM). */
const NGINX_GRACE_MS = 5_000;
/** A signal within this long of the previous one is the same stop, delivered twice. */
const REPEAT_SIGNAL_MS = 1_000;
/** How long an exit of nginx waits for a signal that reached this process at the same time to be handled. */
const SIGNAL_RACE_MS = 300;

const DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/chat_local',
  REDIS_URL: 'redis://127.0.0.1:6379',
  JWT_SECRET: 'local-cluster-development-secret-0123456789',
};

const USAGE = `usage: node scripts/cluster.mjs --instances N [--port 8080] [--base-port 3101]
       kill -HUP <pid>   rolling restart, one instance at a time

  --instances N     how many instances of dist/main.js to start (1-64, default 3)
  --port P          where nginx listens on 127.0.0.1 (default 8080)
  --base-port P     first instance port; instance i listens on P+i-1 (default 3101)

Environment: DATABASE_URL, REDIS_URL, JWT_SECRET (defaults: ${DEFAULTS.DATABASE_URL}, created when missing,
${DEFAULTS.REDIS_URL}, a fixed development secret); every other variable is passed on to the instances.`;

function fail(message) {
  process.stderr.write(`cluster: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { instances: 3, port: 8080, basePort: 3101 };
  const names = { '--instances': 'instances', '--port': 'port', '--base-port': 'basePort' };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    let value;
    const eq = arg.indexOf('=');
    if (eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const key = names[arg];
    if (!key) fail(`unknown option ${arg}\n${USAGE}`);
    if (value === undefined) value = argv[++i];
    if (value === undefined || !/^\d+$/.test(value)) fail(`${arg} needs a whole number\n${USAGE}`);
    options[key] = Number(value);
  }
  if (options.instances < 1 || options.instances > 64) fail('--instances must be 1-64');
  for (const [flag, port] of [
    ['--port', options.port],
    ['--base-port', options.basePort],
  ]) {
    if (port < 1 || port > 65535) fail(`${flag} must be 1-65535`);
  }
  if (options.basePort + options.instances - 1 > 65535) fail('--base-port + --instances goes past 65535');
  if (options.port >= options.basePort && options.port < options.basePort + options.instances) {
    fail(`--port ${options.port} collides with the instance ports`);
  }
  return options;
}

/**
 * deploy/nginx.conf with only what must differ locally replaced: upstream servers, listen address, pid, logs and
 * temp paths. Everything else, including `include nginx-proxy.conf`, stays as in the compose stack.
 */
function renderNginxConf(template, { ports, port, dir }) {
  let text = template;
  const replace = (pattern, replacement, what) => {
    if (!pattern.test(text)) {
      fail(`deploy/nginx.conf: ${what} not found; update renderNginxConf in scripts/cluster.mjs to match`);
    }
    text = text.replace(pattern, replacement);
  };
  replace(
    /(upstream\s+chat\s*\{)([^}]*)\}/,
    (_, open, body) => {
      // The first `server` line becomes one line per local instance (same parameters); the others go.
      let params;
      const lines = body.split('\n').flatMap((line) => {
        const server = /^([ \t]*)server\s+\S+?([ \t][^;]*)?;/.exec(line);
        if (!server) return [line];
        if (params !== undefined) return [];
        // Local instances have addresses, not names to resolve (and Debian's nginx predates `resolve`).
        params = (server[2] ?? '').replace(/[ \t]+resolve\b/, '');
        return ports.map((p) => `${server[1]}server 127.0.0.1:${p}${params};`);
      });
      if (params === undefined) fail('deploy/nginx.conf: upstream chat lists no servers');
      return `${open}${lines.join('\n')}}`;
    },
    'upstream chat { ... }',
  );
  replace(/^[ \t]*resolver\s+[^;]+;\n/m, '', 'resolver');
  replace(/^([ \t]*)listen\s+[^;]+;/m, `$1listen 127.0.0.1:${port};`, 'listen');
  replace(/^([ \t]*)pid\s+[^;]+;/m, `$1pid ${dir}/nginx.pid;`, 'pid');
  replace(/^([ \t]*error_log\s+)[^\s;]+/m, `$1${dir}/error.log`, 'error_log');
  replace(/^([ \t]*access_log\s+)[^\s;]+/m, `$1${dir}/access.log`, 'access_log');
  replace(
    /^([ \t]*)http\s*\{[ \t]*\n/m,
    (line, indent) =>
      line +
      ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
        .map((kind) => `${indent}    ${kind}_temp_path ${dir}/${kind}_temp;\n`)
        .join(''),
    'http {',
  );
  if (!/^\s*include\s+nginx-proxy\.conf;/m.test(text)) fail('deploy/nginx.conf no longer includes nginx-proxy.conf');
  return text;
}

const children = [];
let stopping = false;
let labelWidth = '[cluster]'.length;

/** Prints a child's output line by line, prefixed with its name. */
function prefixOutput(name, stream, target, onLine) {
  const label = `[${name}]`.padEnd(labelWidth);
  createInterface({ input: stream }).on('line', (line) => {
    target.write(`${label} ${line}\n`);
    onLine?.(line);
  });
}

function log(message) {
  process.stdout.write(`${'[cluster]'.padEnd(labelWidth)} ${message}\n`);
}

function startChild(name, command, args, env) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { name, child, code: undefined, signal: undefined, replacing: false };
  if (child.pid) log(`${name} started, pid ${child.pid}`);
  entry.exited = new Promise((resolve) => {
    // 'close' rather than 'exit': after the last line of output has been read.
    child.once('close', (code, signal) => {
      entry.code = code;
      entry.signal = signal;
      if (!stopping && !entry.replacing) log(`${name} exited unexpectedly (${signal ?? `code ${code}`})`);
      resolve();
    });
    child.once('error', (error) => {
      log(`${name} could not start: ${error.message}`);
      entry.code = -1;
      resolve();
    });
  });
  children.push(entry);
  prefixOutput(name, child.stdout, process.stdout);
  prefixOutput(name, child.stderr, process.stderr);
  return entry;
}

async function waitForBalancer(url, nginx) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (nginx.code !== undefined) throw new Error('nginx exited');
    try {
      const response = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nginx did not answer on ${url} within 10 s`);
}

/**
 * nginx's workers, which nginx's master forks: they must go with it. Killed (SIGKILL) without them, the master
 * leaves its workers running, still listening, under init.
 */
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * SIGQUIT nginx (graceful), SIGTERM it after NGINX_GRACE_MS (its master then stops its workers at once), and
 * SIGTERM the instances (they drain and close WebSockets with 1001); wait. Whatever still runs after
 * STOP_TIMEOUT_MS gets SIGKILL, nginx's workers along with their master.
 */
async function stopAll(reason) {
  if (stopping) return;
  stopping = true;
  const running = children.filter((c) => c.name !== 'lb' && c.code === undefined).length;
  log(`${reason}: stopping nginx and ${running} running instance(s)`);
  const kill = (entry, signal) => {
    if (entry.code === undefined) {
      try {
        entry.child.kill(signal);
      } catch {
        // already gone
      }
    }
  };
  for (const entry of children) kill(entry, entry.name === 'lb' ? 'SIGQUIT' : 'SIGTERM');
  const lb = children.find((entry) => entry.name === 'lb');
  const hurry = setTimeout(() => {
    if (lb?.code !== undefined) return;
    log(`lb still running after ${NGINX_GRACE_MS / 1000} s: SIGTERM`);
    kill(lb, 'SIGTERM');
  }, NGINX_GRACE_MS);
  const timer = setTimeout(() => {
    for (const entry of children) {
      if (entry.code !== undefined) continue;
      log(`${entry.name} still running after ${STOP_TIMEOUT_MS / 1000} s: SIGKILL`);
      killTree(entry.child.pid);
    }
  }, STOP_TIMEOUT_MS);
  await Promise.all(children.map((c) => c.exited));
  clearTimeout(hurry);
  clearTimeout(timer);
  let clean = true;
  for (const entry of children) {
    const ok = entry.code === 0 || (entry.name === 'lb' && entry.signal === 'SIGQUIT');
    if (!ok) clean = false;
    log(`${entry.name} exited ${entry.signal ? `on ${entry.signal}` : `with code ${entry.code}`}`);
  }
  return clean;
}

/** SIGKILL a process and its children (collected first: once it is gone, they belong to init). */
function killTree(pid) {
  const pids = [pid, ...childPids(pid)];
  for (const each of pids) {
    try {
      process.kill(each, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Resolves when the instance's GET /health/ready answers 200 (PostgreSQL and Redis reachable, not draining);
 * rejects when it exits first or is not ready in time. Its log lines play no part, so any LOG_LEVEL works.
 */
async function waitForReady(entry, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (entry.code !== undefined) {
      throw new Error(`${entry.name} exited (${entry.signal ?? `code ${entry.code}`}) before it was ready`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${entry.name} (127.0.0.1:${port}) was not ready within ${timeoutMs / 1000} s`);
}

/**
 * One instance at a time: SIGTERM (it drains: not ready, sockets closed with 1001, presence untracked), wait for
 * exit 0, start it again under the same name and port, wait until it is ready. Never two down at once.
 */
async function rollingRestart(slots, startInstance) {
  for (const slot of slots) {
    if (stopping) return;
    const old = slot.entry;
    log(`rolling restart: stopping ${old.name}`);
    old.replacing = true;
    old.child.kill('SIGTERM');
    await old.exited;
    if (old.code !== 0) throw new Error(`${old.name} exited ${old.signal ?? `with code ${old.code}`} on SIGTERM`);
    if (stopping) return;
    slot.entry = startInstance(slot);
    await waitForReady(slot.entry, slot.port, START_TIMEOUT_MS);
    log(`rolling restart: ${slot.entry.name} is ready again`);
  }
}

/**
 * The default database, chat_local on the local PostgreSQL, created when missing (through the server's maintenance
 * database `postgres`), so the cluster never writes its tables into `postgres` itself.
 */
async function ensureDatabase(url) {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      log(`database ${name} created on ${target.host}`);
    }
  } finally {
    await client.end();
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  log(
    `pid ${process.pid}: rolling restart with \`kill -HUP ${process.pid}\`, stop with Ctrl-C or \`kill ${process.pid}\``,
  );
  // Until the cluster is up a SIGHUP would end this script (its default) and leave the instances running.
  const earlyHup = () => log('SIGHUP ignored: the cluster is still starting');
  process.on('SIGHUP', earlyHup);
  if (!existsSync(NGINX)) {
    process.stderr.write('install nginx: apt-get install -y nginx\n');
    process.exit(1);
  }
  await buildIfStale({ log });
  if (!existsSync(MAIN)) fail(`${MAIN} not found: build first with \`npm run build\``);
  if (!process.env.DATABASE_URL) {
    try {
      await ensureDatabase(DEFAULTS.DATABASE_URL);
    } catch (error) {
      fail(`could not reach or create the default database ${DEFAULTS.DATABASE_URL}: ${error.message}`);
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'chat-cluster-'));
  // nginx workers drop to `nobody` when started as root; they need to reach the temp directories.
  chmodSync(dir, 0o755);
  labelWidth = Math.max(labelWidth, `[local-${options.instances}]`.length);
  const ports = Array.from({ length: options.instances }, (_, i) => options.basePort + i);
  writeFileSync(
    join(dir, 'nginx.conf'),
    renderNginxConf(readFileSync(NGINX_TEMPLATE, 'utf8'), { ports, port: options.port, dir }),
  );
  copyFileSync(NGINX_PROXY, join(dir, 'nginx-proxy.conf'));

  let finishing = false;
  const finish = async (reason, failed) => {
    if (finishing) {
      // A second Ctrl-C: do not wait any longer.
      for (const entry of children) if (entry.code === undefined) killTree(entry.child.pid);
      return;
    }
    finishing = true;
    const clean = await stopAll(reason);
    if (failed) {
      try {
        const errors = readFileSync(join(dir, 'error.log'), 'utf8').trim();
        if (errors) process.stderr.write(`[cluster] nginx error.log:\n${errors.split('\n').slice(-20).join('\n')}\n`);
      } catch {
        // no log yet
      }
    }
    rmSync(dir, { recursive: true, force: true });
    process.exit(clean && !failed ? 0 : 1);
  };
  let lastSignalAt = 0;
  const onSignal = (signal) => {
    // Under `npm run cluster` a Ctrl-C arrives twice, from the terminal and passed on by npm: one stop, not a
    // second Ctrl-C that would cut the drain short.
    if (Date.now() - lastSignalAt < REPEAT_SIGNAL_MS) return;
    lastSignalAt = Date.now();
    void finish(signal, false);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  whenNpmParentGone('cluster', (parent) => void finish(`npm (pid ${parent}) is gone`, false));

  const env = {
    ...process.env,
    DATABASE_URL: process.env.DATABASE_URL || DEFAULTS.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL || DEFAULTS.REDIS_URL,
    JWT_SECRET: process.env.JWT_SECRET || DEFAULTS.JWT_SECRET,
    // nginx on loopback is the only proxy in front of the instances: believe its X-Forwarded-For.
    TRUST_PROXY: process.env.TRUST_PROXY || 'loopback',
    HOST: '127.0.0.1',
  };
  log(`starting ${options.instances} instance(s) on 127.0.0.1:${ports[0]}-${ports[ports.length - 1]}`);
  const startInstance = ({ name, port }) =>
    startChild(name, process.execPath, [MAIN], { ...env, PORT: String(port), INSTANCE_ID: name });
  const slots = ports.map((port, i) => ({ name: `local-${i + 1}`, port }));
  for (const slot of slots) slot.entry = startInstance(slot);
  try {
    await Promise.all(
      slots.map(async (slot) => {
        await waitForReady(slot.entry, slot.port, START_TIMEOUT_MS);
        log(`${slot.name} ready on http://127.0.0.1:${slot.port}`);
      }),
    );
  } catch (error) {
    log(error.message);
    return finish('start-up failed', true);
  }
  if (finishing) return;

  const nginx = startChild(
    'lb',
    NGINX,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    process.env,
  );
  nginx.exited.then(() => {
    // A terminal's Ctrl-C reaches nginx too, which may be gone before this process has handled the same signal:
    // a moment for that, so the Ctrl-C is the stop it is, not nginx failing (and then a second Ctrl-C).
    setTimeout(() => {
      if (!finishing) void finish('nginx exited', true);
    }, SIGNAL_RACE_MS);
  });
  const url = `http://127.0.0.1:${options.port}`;
  try {
    await waitForBalancer(url, nginx);
  } catch (error) {
    log(error.message);
    return finish('start-up failed', true);
  }
  if (finishing) return;
  let restarting = false;
  process.off('SIGHUP', earlyHup);
  process.on('SIGHUP', () => {
    if (restarting || finishing) return log('SIGHUP ignored: a rolling restart or a stop is under way');
    restarting = true;
    log('SIGHUP: rolling restart');
    rollingRestart(slots, startInstance).then(
      () => {
        restarting = false;
        if (!finishing) log('rolling restart done');
      },
      (error) => {
        log(`rolling restart failed: ${error.message}`);
        void finish('rolling restart failed', true);
      },
    );
  });
  log(`nginx config and logs in ${dir}`);
  log(`balancer listening on ${url} (ws://127.0.0.1:${options.port}/graphql); Ctrl-C to stop`);
}

main().catch((error) => {
  process.stderr.write(`cluster: ${error?.stack ?? error}\n`);
  process.exit(1);
});
