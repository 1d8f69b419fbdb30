#!/usr/bin/env node
/**
 * The embedded default's figures (README, "The embedded database"): idle memory, first start, restart and
 * sendMessage throughput of the built app (`dist/main.js`) with no DATABASE_URL and no REDIS_URL.
 *
 *   node scripts/measure-embedded.mjs [other checkout …]
 *
 * Linux only (it reads /proc). Every checkout named (built, with its node_modules) is measured beside this one,
 * in alternation, so that whatever else the machine runs falls on each alike:
 * - first start: an empty DATA_DIR until GET /health/ready answers 200; restart: the same on the data it left;
 * - idle RSS: the app's process and all its descendants, summed, after 10 s with no client (PSS beside it,
 *   which counts the pages the PostgreSQL processes share once);
 * - sendMessage/s: 20 clients over HTTP, each sending as soon as its last send was answered, in bursts that
 *   alternate between the apps (all running), with one chat for all and with a chat each; rate limits raised.
 *
 * Environment: ROUNDS (start and memory, default 3), BURSTS (per app and chat layout, default 8), BURST_S
 * (seconds, default 4).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const checkouts = [ROOT, ...process.argv.slice(2).map((dir) => resolve(dir))];
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BURSTS = Number(process.env.BURSTS ?? 8);
const BURST_S = Number(process.env.BURST_S ?? 4);
const CLIENTS = 20;
const IDLE_MS = 10_000;

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
/** A first start creates the database; a start that takes longer than this is stuck. */
const START_TIMEOUT_MS = 120_000;
/** Longer than the app's drain (SHUTDOWN_TIMEOUT_MS) at its default. */
const STOP_TIMEOUT_MS = 15_000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function freePort() {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** The pid and every descendant, from /proc. */
function family(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]) ?? []));
  return all;
}

function kib(file, field) {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function memory(pid) {
  const pids = family(pid);
  const sum = (file, field) => pids.reduce((total, p) => total + kib(`/proc/${p}/${file}`, field), 0) / 1024;
  return { rss: sum('status', 'VmRSS'), pss: sum('smaps_rollup', 'Pss'), processes: pids.length };
}

async function gql(url, query, variables, token) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function start(checkout, dataDir) {
  const port = await freePort();
  const startedAt = performance.now();
  const child = spawn(process.execPath, [join(checkout, 'dist', 'main.js')], {
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      PORT: String(port),
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_MESSAGES_PER_SECOND: '1000000',
      RATE_LIMIT_MESSAGES_BURST: '1000000',
      RATE_LIMIT_AUTH_PER_MINUTE: '100000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${checkout}: the app exited with ${child.exitCode}`);
    if (performance.now() - startedAt > START_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`${checkout}: the app was not ready within ${START_TIMEOUT_MS / 1000} s`);
    }
    try {
      if ((await fetch(`${url}/health/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  return { child, url, seconds: (performance.now() - startedAt) / 1000 };
}

async function stop(app) {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return;
  const exited = new Promise((done) => app.child.once('exit', done));
  app.child.kill('SIGTERM');
  const late = setTimeout(() => {
    process.stderr.write(
      `the app (pid ${app.child.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s: killing it\n`,
    );
    app.child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(late);
}

function newDataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'measure-embedded-'));
  return dir;
}

async function startAndMemory(checkout) {
  const dataDir = newDataDir();
  try {
    const first = await start(checkout, dataDir);
    await sleep(IDLE_MS);
    const idle = memory(first.child.pid);
    await stop(first);
    const again = await start(checkout, dataDir);
    await sleep(IDLE_MS);
    const idleAgain = memory(again.child.pid);
    await stop(again);
    return { first: first.seconds, restart: again.seconds, idle, idleAgain };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function prepare(checkout) {
  const dataDir = newDataDir();
  const app = await start(checkout, dataDir);
  const users = [];
  for (let i = 0; i < CLIENTS; i++) {
    const input = { email: `m${i}@example.com`, firstName: `U${i}`, password: 'correct horse battery' };
    users.push(
      (await gql(app.url, 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }', { i: input })).signUp.token,
    );
  }
  const create = 'mutation { createChat(input: { roomName: "bench", isPrivate: false }) { id } }';
  const shared = (await gql(app.url, create, {}, users[0])).createChat.id;
  for (const token of users.slice(1)) {
    await gql(app.url, 'mutation($id: ID!) { joinChat(chatId: $id) { id } }', { id: shared }, token);
  }
  const own = [];
  for (const token of users) own.push((await gql(app.url, create, {}, token)).createChat.id);
  return { ...app, checkout, dataDir, users, chats: { shared: users.map(() => shared), own } };
}

async function burst(app, layout) {
  const send = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }';
  let sent = 0;
  const startedAt = performance.now();
  const end = startedAt + BURST_S * 1000;
  await Promise.all(
    app.users.map(async (token, i) => {
      while (performance.now() < end) {
        await gql(app.url, send, { input: { chatId: app.chats[layout][i], content: `m${sent}` } }, token);
        sent++;
      }
    }),
  );
  return sent / ((performance.now() - startedAt) / 1000);
}

const figures = new Map(
  checkouts.map((c) => [c, { first: [], restart: [], idle: [], idleAgain: [], pss: [], shared: [], own: [] }]),
);
for (let round = 0; round < ROUNDS; round++) {
  for (const checkout of round % 2 ? [...checkouts].reverse() : checkouts) {
    const r = await startAndMemory(checkout);
    const f = figures.get(checkout);
    f.first.push(r.first);
    f.restart.push(r.restart);
    f.idle.push(r.idle.rss);
    f.idleAgain.push(r.idleAgain.rss);
    f.pss.push(r.idle.pss);
    process.stderr.write(`${checkout}: ${JSON.stringify(r)} (load ${load()})\n`);
  }
}

const apps = [];
try {
  for (const checkout of checkouts) apps.push(await prepare(checkout));
  for (const layout of ['shared', 'own']) {
    for (const app of apps) await burst(app, layout); // warm-up
    for (let i = 0; i < BURSTS; i++) {
      for (const app of i % 2 ? [...apps].reverse() : apps) {
        figures.get(app.checkout)[layout].push(await burst(app, layout));
      }
    }
  }
} finally {
  for (const app of apps) {
    await stop(app);
    rmSync(app.dataDir, { recursive: true, force: true });
  }
}

for (const [checkout, f] of figures) {
  console.log(checkout);
  console.log(
    `  idle RSS after first start  ${median(f.idle).toFixed(1)} MB (${range(f.idle)}), PSS ${median(f.pss).toFixed(1)} MB`,
  );
  console.log(`  idle RSS after restart      ${median(f.idleAgain).toFixed(1)} MB (${range(f.idleAgain)})`);
  console.log(`  first start                 ${median(f.first).toFixed(2)} s (${range(f.first)})`);
  console.log(`  restart                     ${median(f.restart).toFixed(2)} s (${range(f.restart)})`);
  console.log(`  sendMessage/s, one chat     ${median(f.shared).toFixed(0)} (${range(f.shared)})`);
  console.log(`  sendMessage/s, a chat each  ${median(f.own).toFixed(0)} (${range(f.own)})`);
}
console.log(`load average at the end: ${load()}`);
