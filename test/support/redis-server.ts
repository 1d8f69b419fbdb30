import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import Redis from 'ioredis';

/** A throw-away redis-server on a free port, which a test may kill and restart at will. */
export class TestRedis {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort());
    await redis.spawn();
    return redis;
  }

  /** Kills the server (it keeps nothing on disk) and starts a new one on the same port. */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.spawn();
  }

  command(...args: string[]): Promise<unknown> {
    return redisCommand(this.port, ...args);
  }

  /** Stops the server answering (SIGSTOP) while its connections stay open, as a stalled host or a partition would. */
  suspend(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  private async spawn(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 100; i++) {
      try {
        if ((await this.command('PING')) === 'PONG') return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw new Error('redis-server did not start');
  }
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

/**
 * Runs one command on the Redis at 127.0.0.1:`port` over a connection of its own. A server that is not up (yet,
 * or any more) fails the call and the caller asks again: the client must not go on reconnecting by itself, or its
 * timers keep Jest from exiting.
 */
export async function redisCommand(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined); // reported by the rejected call
  try {
    await client.connect();
    return await client.call(args[0], ...args.slice(1));
  } finally {
    client.disconnect();
  }
}
