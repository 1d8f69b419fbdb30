import { execFile, spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_REDIS_URL } from './env';
import { freePort, redisCommand } from './redis-server';

const run = promisify(execFile);

interface Node {
  port: number;
  child: ChildProcess;
}

/**
 * A throw-away Redis Cluster of real redis-server processes on free ports (3 masters with a replica each unless
 * told otherwise), made with `redis-cli --cluster create`. A test may kill a master and wait for its replica to
 * take over. Failure detection is quick (cluster-node-timeout 1 s), so a failover takes a few seconds.
 */
export class TestRedisCluster {
  private readonly nodes: Node[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));

  private constructor() {}

  /** `redis-cluster://` URL naming the first masters as seeds. */
  url = '';

  static async start(masters = 3, replicasPerMaster = 1): Promise<TestRedisCluster> {
    const cluster = new TestRedisCluster();
    try {
      const ports: number[] = [];
      for (let i = 0; i < masters * (1 + replicasPerMaster); i++) ports.push(await freePort());
      await Promise.all(ports.map((port) => cluster.spawn(port)));
      await run('redis-cli', [
        '--cluster',
        'create',
        ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ]);
      await cluster.waitUntilHealthy(20_000);
      cluster.url = `redis-cluster://${ports
        .slice(0, masters)
        .map((port) => `127.0.0.1:${port}`)
        .join(',')}`;
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** Runs one command on one node. */
  command(port: number, ...args: string[]): Promise<unknown> {
    return redisCommand(port, ...args);
  }

  /** The port of the master that serves a key (or channel) now. */
  async masterOf(key: string): Promise<number> {
    const slot = Number(await this.command(this.alive()[0].port, 'CLUSTER', 'KEYSLOT', key));
    const slots = (await this.command(this.alive()[0].port, 'CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number],
    ][];
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no master serves slot ${slot}`);
    return range[2][1];
  }

  /** Kills a master with SIGKILL, as a crash would. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return;
    const exited = new Promise((resolve) => node.child.once('exit', resolve));
    node.child.kill('SIGKILL');
    await exited;
  }

  /** Resolves once a live node serves the key's slot as master and the cluster says it is whole again. */
  async waitForMaster(key: string, notPort: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const port = await this.masterOf(key);
        if (port !== notPort && (await this.isOk(port))) return port;
      } catch {
        // a node that is going away: ask again
      }
      if (Date.now() > deadline) throw new Error(`no new master for ${key} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node.port)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private alive(): Node[] {
    return this.nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
  }

  private async isOk(port: number): Promise<boolean> {
    const info = String(await this.command(port, 'CLUSTER', 'INFO'));
    return /cluster_state:ok/.test(info);
  }

  private async waitUntilHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(this.alive().map((node) => this.isOk(node.port).catch(() => false)));
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error('the test Redis Cluster did not become healthy');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async spawn(port: number): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '1000',
        // A replica takes over however long its link to the master has been quiet (this cluster is mostly idle).
        '--cluster-replica-validity-factor',
        '0',
        '--logfile',
        `node-${port}.log`,
      ],
      { stdio: 'ignore' },
    );
    this.nodes.push({ port, child });
    for (let i = 0; i < 100; i++) {
      try {
        if ((await this.command(port, 'PING')) === 'PONG') return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw new Error(`redis-server on ${port} did not start`);
  }
}

/** The Redis a suite runs on: the machine's own node, or a cluster of its own that it stops afterwards. */
export type RedisKind = 'node' | 'cluster';

export async function startRedis(kind: RedisKind): Promise<{ url: string; stop: () => Promise<void> }> {
  if (kind === 'node') return { url: TEST_REDIS_URL, stop: async () => undefined };
  const cluster = await TestRedisCluster.start();
  return { url: cluster.url, stop: () => cluster.stop() };
}
