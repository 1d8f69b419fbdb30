/**
 * The processes a run needs: a private redis-server, a fresh PostgreSQL database, and the servers under test
 * (the app's dist/main.js or a baseline), each a child process that prints `listening on http://…` when ready.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import Redis from 'ioredis';
import { Client } from 'pg';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

export interface ServerProcess {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
  /** The last lines it printed, for error messages. */
  tail(): string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const running = new Set<ChildProcess>();

/** Kills whatever is still running; for an interrupted run. */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * Starts `node <args>` and waits until it is ready: when `healthUrl` is given (the app, whose start-up line is
 * an info log that LOG_LEVEL=warn hides), until it answers 200; otherwise until it prints `listening on <url>`.
 */
export async function startServer(
  name: string,
  args: string[],
  env: Record<string, string | undefined>,
  health?: { url: string; path: string },
): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), START_TIMEOUT_MS);
    if (health)
      void pollHealth(health.url + health.path, exited).then(() => {
        clearTimeout(timer);
        resolve(health.url);
      }, reject);
    const onData = (chunk: Buffer) => {
      keep(chunk);
      const match = /listening on (http:\/\/[^\s"\\]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => reject(new Error(`${name} exited before listening:\n${output}`)));
  });
  return {
    name,
    url,
    pid: child.pid!,
    tail: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves once `url` answers 2xx; gives up when `exited` settles (the server is gone). */
export async function pollHealth(url: string, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  while (!gone) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Resident set size of a process in KiB (VmRSS in /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}

/** CPU time in milliseconds, split as the kernel counts it: in the process's own code, and in the kernel for it. */
export interface CpuTime {
  userMs: number;
  sysMs: number;
}

let ticksPerSecond: number | undefined;
const msPerTick = () => {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return 1000 / ticksPerSecond;
};

/**
 * The CPU time each process has used so far (utime and stime in /proc/<pid>/stat); one that is gone is left out.
 * Sampled before and after a step, `cpuSpent` turns two of these into what the step cost.
 */
export function cpuTimes(pids: readonly number[]): Map<number, CpuTime> {
  const times = new Map<number, CpuTime>();
  const tickMs = msPerTick();
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name is in parentheses and may hold spaces; the fields counted from after it are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    times.set(pid, { userMs: Number(fields[11]) * tickMs, sysMs: Number(fields[12]) * tickMs });
  }
  return times;
}

/**
 * What the processes alive at `after` used since `before`: one that started in between counts all of its time,
 * one that ended in between is not counted (its time is gone with it).
 */
export function cpuSpent(before: Map<number, CpuTime>, after: Map<number, CpuTime>): CpuTime {
  const spent: CpuTime = { userMs: 0, sysMs: 0 };
  for (const [pid, now] of after) {
    const then = before.get(pid) ?? { userMs: 0, sysMs: 0 };
    spent.userMs += now.userMs - then.userMs;
    spent.sysMs += now.sysMs - then.sysMs;
  }
  return spent;
}

/** Every PostgreSQL process on the machine: the bench's database lives in the machine's cluster. */
export function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
    } catch {
      // gone between the listing and the read
    }
  }
  return pids;
}

/** A redis-server of our own on a free port, so the bench never disturbs other users of 6379. */
export async function startRedis(): Promise<{
  url: string;
  flush(): Promise<void>;
  /** Commands the server has run so far (INFO commandstats), the INFO calls that read it excepted. */
  commands(): Promise<number>;
  stop(): Promise<void>;
}> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '10000'],
    { stdio: 'ignore' },
  );
  running.add(child);
  const url = `redis://127.0.0.1:${port}`;
  const command = async (...args: string[]) => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await client.call(args[0], ...args.slice(1));
    } finally {
      client.disconnect();
    }
  };
  for (let i = 0; ; i++) {
    try {
      if ((await command('PING')) === 'PONG') break;
    } catch (error) {
      if (i > 100) throw new Error(`redis-server did not start: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    flush: async () => void (await command('FLUSHALL')),
    commands: async () => {
      const stats = String(await command('INFO', 'commandstats'));
      let total = 0;
      for (const [, name, calls] of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (name !== 'info') total += Number(calls);
      }
      return total;
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      running.delete(child);
    },
  };
}

/** Names the database of the bench process `pid`: the pid tells, later, whether its owner is still running. */
const DATABASE_NAME = /^chat_bench_(\d+)_[0-9a-f]+$/;

/**
 * A fresh database `chat_bench_<pid>_<random>` on the admin URL's server. A run that could not drop its own (it
 * was SIGKILLed, or crashed) leaves one behind, so those whose process is gone are dropped first; a pid only
 * means something on this machine, so that happens only when the server is local.
 */
export async function createDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `chat_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string): Promise<{ datname?: string }[]> => {
    const client = new Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return (await client.query<{ datname?: string }>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  const url = new URL(adminUrl);
  if (['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    for (const { datname } of await admin(`SELECT datname FROM pg_database WHERE datname LIKE 'chat\\_bench\\_%'`)) {
      const owner = DATABASE_NAME.exec(datname ?? '')?.[1];
      if (owner && !isRunning(Number(owner))) await admin(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
  }
  await admin(`CREATE DATABASE ${name}`);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: async () => void (await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
