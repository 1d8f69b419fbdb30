import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { TEST_JWT_SECRET, TEST_KEY_PREFIX } from './env';

const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');
const START_TIMEOUT_MS = 45_000;

/**
 * The built app (`node dist/main.js`) as a child process: end-to-end suites talk to it over real HTTP and
 * WebSocket, exactly as clients do. Port 0 lets it pick a free port; the URL comes from its start-up line.
 */
export class AppProcess {
  private output = '';
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });
  }

  get wsUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}/graphql`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(env: Record<string, string | undefined>): Promise<AppProcess> {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        NO_COLOR: '1',
        PORT: '0',
        JWT_SECRET: TEST_JWT_SECRET,
        // Tests sign up many users; the production hash cost would only slow them down.
        PASSWORD_HASH_MEMORY_KIB: '1024',
        PASSWORD_HASH_ITERATIONS: '1',
        RATE_LIMIT_AUTH_PER_MINUTE: '100000',
        RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: '100000',
        REDIS_KEY_PREFIX: TEST_KEY_PREFIX,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`app did not start in time:\n${output}`)), START_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/[^\s"\\]+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`app exited with ${code} before listening:\n${output}`));
      });
    });
    const app = new AppProcess(child, url);
    app.output = output;
    child.stdout.on('data', (chunk: Buffer) => (app.output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (app.output += chunk.toString()));
    return app;
  }

  /** Everything the process printed so far. */
  get logs(): string {
    return this.output;
  }

  /** Sends a signal and waits for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    const result = await Promise.race([this.exited, timeout]);
    if (result === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`app did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return result;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

/** Runs `node dist/main.js` to completion with the given env (for configuration failures). */
export function runToExit(env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The value of a metric with one series (whatever its default labels) on an instance's /metrics. */
export async function readMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(' ').pop() ?? NaN);
}
