#!/usr/bin/env node
/**
 * A local cluster without Docker: N instances of the built app behind nginx, with the same proxy settings as
 * the compose stack (its nginx.conf is rendered from deploy/nginx.conf, which includes deploy/nginx-proxy.conf).
 *
 *   npm run build
 *   node scripts/cluster.mjs --instances 3 [--port 8080] [--base-port 3101]
 *
 * Instances listen on 127.0.0.1:base-port..base-port+N-1 as INSTANCE_ID=local-1..N; DATABASE_URL, REDIS_URL and
 * JWT_SECRET come from the environment (with local defaults). nginx runs unprivileged from a temporary directory
 * (config, pid, logs, temp files) and listens on 127.0.0.1:port. Ctrl-C or SIGTERM stops nginx and sends SIGTERM
 * to every instance, waits for them and exits 0 if all of them exited 0.
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

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const NGINX_TEMPLATE = join(ROOT, 'deploy', 'nginx.conf');
const NGINX_PROXY = join(ROOT, 'deploy', 'nginx-proxy.conf');
const NGINX = '/usr/sbin/nginx';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

const DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
  JWT_SECRET: 'local-cluster-development-secret-0123456789',
};

const USAGE = `usage: node scripts/cluster.mjs --instances N [--port 8080] [--base-port 3101]
       kill -HUP <pid>   rolling restart, one instance at a time

  --instances N     how many instances of dist/main.js to start (1-64, default 3)
  --port P          where nginx listens on 127.0.0.1 (default 8080)
  --base-port P     first instance port; instance i listens on P+i-1 (default 3101)

Environment: DATABASE_URL, REDIS_URL, JWT_SECRET (defaults: ${DEFAULTS.DATABASE_URL}, ${DEFAULTS.REDIS_URL},
a fixed development secret); every other variable is passed on to the instances.`;

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

function startChild(name, command, args, env, readyPattern) {
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
  let onReady;
  entry.ready = new Promise((resolve, reject) => {
    if (!readyPattern) return resolve();
    const timer = setTimeout(
      () => reject(new Error(`${name} did not log "listening on" within 60 s`)),
      START_TIMEOUT_MS,
    );
    onReady = (line) => {
      if (readyPattern.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    };
    entry.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${entry.signal ?? `code ${entry.code}`}) before it was ready`));
    });
  });
  entry.ready.catch(() => undefined);
  prefixOutput(name, child.stdout, process.stdout, (line) => onReady?.(line));
  prefixOutput(name, child.stderr, process.stderr, (line) => onReady?.(line));
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

/** SIGQUIT nginx (graceful) and SIGTERM the instances (they drain and close WebSockets with 1001), then wait. */
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
  const timer = setTimeout(() => {
    for (const entry of children) {
      if (entry.code === undefined) log(`${entry.name} still running after ${STOP_TIMEOUT_MS / 1000} s: SIGKILL`);
      kill(entry, 'SIGKILL');
    }
  }, STOP_TIMEOUT_MS);
  await Promise.all(children.map((c) => c.exited));
  clearTimeout(timer);
  let clean = true;
  for (const entry of children) {
    const ok = entry.code === 0 || (entry.name === 'lb' && entry.signal === 'SIGQUIT');
    if (!ok) clean = false;
    log(`${entry.name} exited ${entry.signal ? `on ${entry.signal}` : `with code ${entry.code}`}`);
  }
  return clean;
}

/** Resolves when GET /health/ready answers 200 (PostgreSQL and Redis reachable, not draining). */
async function waitForReady(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`127.0.0.1:${port} was not ready within ${timeoutMs / 1000} s`);
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
    await slot.entry.ready;
    await waitForReady(slot.port, START_TIMEOUT_MS);
    log(`rolling restart: ${slot.entry.name} is ready again`);
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(MAIN)) fail(`${MAIN} not found: build first with \`npm run build\``);
  if (!existsSync(NGINX)) {
    process.stderr.write('install nginx: apt-get install -y nginx\n');
    process.exit(1);
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
      for (const entry of children) if (entry.code === undefined) entry.child.kill('SIGKILL');
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
  process.on('SIGINT', () => void finish('SIGINT', false));
  process.on('SIGTERM', () => void finish('SIGTERM', false));

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
    startChild(name, process.execPath, [MAIN], { ...env, PORT: String(port), INSTANCE_ID: name }, /listening on/);
  const slots = ports.map((port, i) => ({ name: `local-${i + 1}`, port }));
  for (const slot of slots) slot.entry = startInstance(slot);
  try {
    await Promise.all(slots.map((slot) => slot.entry.ready));
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
    if (!finishing) void finish('nginx exited', true);
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
