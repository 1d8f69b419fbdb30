import type { Server } from 'node:http';

/** Every baseline reads PORT (0: any free port) and REDIS_URL, and prints the line run.ts waits for. */
export const baselineEnv = {
  port: Number(process.env.PORT ?? 0),
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};

export function announce(server: Server, name: string): void {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : baselineEnv.port;
  process.stdout.write(`${name} listening on http://127.0.0.1:${port}\n`);
}

export function exitOnSignal(close: () => Promise<unknown>): void {
  const stop = () => {
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
