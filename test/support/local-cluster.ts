import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TEST_JWT_SECRET, TEST_KEY_PREFIX } from './env';
import { descendants, killAll } from './processes';

const ROOT = join(__dirname, '..', '..');
export const NGINX = '/usr/sbin/nginx';
/** The local cluster needs Debian's nginx and a build. */
export const canRunCluster = existsSync(NGINX) && existsSync(join(ROOT, 'dist', 'main.js'));

/**
 * `scripts/cluster.mjs` as a child process: N instances of the built app behind nginx on free ports, exactly as
 * a developer starts it. Tests reach the balancer at `url`, each instance directly at `instanceUrls[i]`.
 */
export class LocalCluster {
  private text = '';
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly lbPort: number,
    readonly basePort: number,
    readonly instances: number,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /**
   * `throughNpm`: started as `npm run cluster -- ...`, so that signals go to npm's pid, in a process group of its
   * own, as a terminal runs it (`stop` can then send a Ctrl-C to the whole group).
   */
  static async start(
    instances: number,
    env: Record<string, string | undefined>,
    { throughNpm = false } = {},
  ): Promise<LocalCluster> {
    const { lbPort, basePort } = await freePorts(instances);
    const args = ['--instances', String(instances), '--port', String(lbPort), '--base-port', String(basePort)];
    const [command, commandArgs] = throughNpm
      ? ['npm', ['run', '--silent', 'cluster', '--', ...args]]
      : [process.execPath, [join(ROOT, 'scripts', 'cluster.mjs'), ...args]];
    const child = spawn(command, commandArgs, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'test',
        NO_COLOR: '1',
        JWT_SECRET: TEST_JWT_SECRET,
        PASSWORD_HASH_MEMORY_KIB: '1024',
        PASSWORD_HASH_ITERATIONS: '1',
        RATE_LIMIT_AUTH_PER_MINUTE: '100000',
        RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: '100000',
        REDIS_KEY_PREFIX: TEST_KEY_PREFIX,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: throughNpm,
    });
    const cluster = new LocalCluster(child, lbPort, basePort, instances);
    try {
      await cluster.waitForOutput(() => cluster.output.includes('balancer listening on'), 60_000);
    } catch (error) {
      await cluster.kill();
      throw error;
    }
    return cluster;
  }

  get url(): string {
    return `http://127.0.0.1:${this.lbPort}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.lbPort}/graphql`;
  }

  get instanceUrls(): string[] {
    return Array.from({ length: this.instances }, (_, i) => `http://127.0.0.1:${this.basePort + i}`);
  }

  /** Everything the cluster and its children printed so far. */
  get output(): string {
    return this.text;
  }

  /** Every process the cluster started (instances, restarted ones included, and nginx). */
  pids(): number[] {
    return [...this.output.matchAll(/(\S+) started, pid (\d+)/g)].map((m) => Number(m[2]));
  }

  /** The cluster script's own pid, as it prints it (under npm, not the pid that was started). */
  get scriptPid(): number {
    const pid = /\bpid (\d+): rolling restart/.exec(this.output)?.[1];
    if (!pid) throw new Error(`the cluster did not print its pid:\n${this.output}`);
    return Number(pid);
  }

  /** SIGHUP: restarts the instances one at a time and resolves when every one is ready again. */
  async rollingRestart(timeoutMs = 120_000): Promise<void> {
    const done = () => this.output.split('rolling restart done').length - 1;
    const before = done();
    process.kill(this.scriptPid, 'SIGHUP');
    await this.waitForOutput(() => {
      if (this.output.includes('rolling restart failed')) throw new Error(`rolling restart failed:\n${this.output}`);
      return done() > before;
    }, timeoutMs);
  }

  /**
   * `signal` (SIGTERM unless told) to the pid that was started, or with `group` to its whole process group, as a
   * terminal's Ctrl-C does: the cluster stops nginx and drains every instance; resolves with its exit code.
   */
  async stop({
    signal = 'SIGTERM',
    group = false,
    timeoutMs = 30_000,
  }: { signal?: NodeJS.Signals; group?: boolean; timeoutMs?: number } = {}): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    if (group) process.kill(-this.child.pid!, signal);
    else this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      await this.kill();
      throw new Error(`cluster did not exit within ${timeoutMs} ms of ${signal}:\n${this.output}`);
    }
    return result;
  }

  /**
   * After a failure: SIGKILL the cluster and everything under it: the instances, restarted ones included, and
   * nginx's master and its workers. The tree is read before anything is killed: a worker whose master is gone
   * belongs to init, still listening.
   */
  async kill(): Promise<void> {
    const script = /\bpid (\d+): rolling restart/.exec(this.output)?.[1];
    const roots = [...(script ? [Number(script)] : []), ...this.pids()];
    const pids = new Set([...descendants(this.child.pid!), ...roots.flatMap((pid) => [pid, ...descendants(pid)])]);
    killAll(pids);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait (the cluster's own clean stop); whatever is still there after that, or on a timeout, is killed. */
  async close(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await this.kill();
    }
  }

  private async waitForOutput(check: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`cluster exited early:\n${this.output}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** A free port for the balancer and `instances` free ports below it, for scripts/cluster.mjs. */
export async function freePorts(instances: number): Promise<{ lbPort: number; basePort: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const basePort = 20_000 + Math.floor(Math.random() * 40_000);
    const lbPort = basePort + instances;
    const ports = Array.from({ length: instances + 1 }, (_, i) => basePort + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return { lbPort, basePort };
  }
  throw new Error('no free port range found');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
