import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import proxyaddr from 'proxy-addr';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { envSchema, parseEnv, redisTarget, trustList } from '../src/config/config.schema';
import { AppProcess, readMetric } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { signUp } from './support/gql';
import { eventually } from './support/presence';
import { canRunCluster, LocalCluster, NGINX } from './support/local-cluster';
import { descendants, isAlive } from './support/processes';
import { connect } from './support/ws';

/**
 * What the deployment files do. The compose stacks the README names, as compose itself reads them (`docker
 * compose config`, or Debian's `docker-compose`; no Docker engine needed): compose accepts them, every instance's
 * environment passes the app's own configuration check, instances wait for what they use, the balancer waits for
 * the instances, its nginx config passes `nginx -t` where the stack mounts it, and the instances' health check
 * tells a ready instance from one that is not. Then deploy/nginx.conf running in front of real instances (the local
 * cluster renders it, scripts/cluster.mjs): HTTP and WebSocket through it, no /metrics, a killed instance skipped;
 * and the cluster stops, nginx's workers included, on SIGTERM or SIGINT to npm and on a terminal's Ctrl-C.
 */
const ROOT = join(__dirname, '..');
const haveNginx = existsSync(NGINX);
const JWT_SECRET = randomBytes(24).toString('base64');

// ---------------------------------------------------------------------------------------------------------------
// Compose, as compose reads it.

type Service = {
  build?: { context: string; dockerfile?: string };
  environment?: Record<string, string | number | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  networks?: Record<string, { ipv4_address?: string } | null>;
  ports?: (string | { target: number | string; published: number | string })[];
  volumes?: (string | { type: string; source: string; target: string })[];
};
type Compose = { services: Record<string, Service>; networks?: Record<string, unknown> };

/** `docker compose` when the Compose plugin is there, else the standalone `docker-compose`; neither: undefined. */
const COMPOSE: string[] | undefined = (() => {
  const plugin = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  if (plugin.status === 0) return ['docker', 'compose'];
  const standalone = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  return standalone.status === 0 ? ['docker-compose'] : undefined;
})();

/** `compose -f ... config` in the project, with only PATH and `env` in its environment. */
function composeConfig(files: string[], env: Record<string, string>): { status: number | null; output: string } {
  const [command, ...args] = COMPOSE!;
  const result = spawnSync(command, [...args, ...files.flatMap((file) => ['-f', file]), 'config'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
  });
  return { status: result.status, output: result.status === 0 ? result.stdout : `${result.stdout}${result.stderr}` };
}

/** The compose stacks the README tells people to start: the `-f` files of each `docker compose ... up` line. */
function readmeStacks(): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^.*docker compose((?:\s+-f\s+\S+)*)\s+up\b.*$/gm)].map((line) => {
    const files = [...line[1].matchAll(/-f\s+(\S+)/g)].map((file) => file[1]);
    return files.length ? files : ['docker-compose.yml'];
  });
}

const environmentOf = (service: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, String(value ?? '')]));

/** Built from this project's Dockerfile: the app's instances. */
const isApp = (service: Service) =>
  service.build?.context === ROOT && (service.build.dockerfile ?? 'Dockerfile') === 'Dockerfile';

/** Whether `from` starts only after `target` is healthy: directly, or through a service that must complete first. */
function waitsFor(compose: Compose, from: string, target: string): boolean {
  return Object.entries(compose.services[from].depends_on ?? {}).some(
    ([name, { condition }]) =>
      (name === target && condition === 'service_healthy') ||
      (condition === 'service_completed_successfully' && waitsFor(compose, name, target)),
  );
}

/** A volume as source and target, whichever syntax compose printed. */
function mountOf(volume: NonNullable<Service['volumes']>[number]): { source: string; target: string } {
  if (typeof volume !== 'string') return { source: volume.source, target: volume.target };
  const [source, target] = volume.split(':');
  return { source, target };
}

/** The health check's command line, as the container would run it (CMD: argv; CMD-SHELL: through sh). */
function healthCommand(service: Service): string[] {
  const test = service.healthcheck?.test;
  if (!Array.isArray(test)) throw new Error(`no health check in CMD form: ${JSON.stringify(test)}`);
  const [kind, ...rest] = test;
  if (kind === 'CMD') return rest;
  if (kind === 'CMD-SHELL') return ['sh', '-c', rest.join(' ')];
  throw new Error(`unexpected health check ${JSON.stringify(test)}`);
}

/**
 * The health check run here against `url` in place of the container's own port (which must be the one the
 * instance listens on): its exit code. Not spawnSync: the server it asks may be this very process.
 */
function runHealthCheck(service: Service, url: string): Promise<number | null> {
  const own = `127.0.0.1:${environmentOf(service).PORT}`;
  const command = healthCommand(service);
  expect(command.join(' ')).toContain(own);
  const [file, ...args] = command.map((arg) => arg.replaceAll(own, new URL(url).host));
  // The image runs `node` from its PATH; here, the node running the tests.
  const child = spawn(file === 'node' ? process.execPath : file, args, { stdio: 'ignore', timeout: 15_000 });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

/** nginx's version as [major, minor, patch]. */
function nginxVersion(): number[] {
  const output = spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr;
  return (/nginx\/(\d+)\.(\d+)\.(\d+)/.exec(output) ?? []).slice(1).map(Number);
}

/** A private mount namespace (root), where the test gives nginx an /etc/hosts of its own. */
const canUnshare = spawnSync('unshare', ['--mount', 'true']).status === 0;

(COMPOSE ? describe : describe.skip)(
  COMPOSE ? 'the compose stacks the README names' : 'compose stacks: SKIPPED, needs `docker compose` or docker-compose',
  () => {
    const stacks = readmeStacks();

    it('are the plain stack and the Redis Cluster one', () => {
      expect(stacks).toEqual([['docker-compose.yml'], ['docker-compose.yml', 'docker-compose.redis-cluster.yml']]);
    });

    describe.each(stacks.map((files) => [files.join(' + '), files] as const))('%s', (_, files) => {
      let compose: Compose;
      let apps: [string, Service][];

      beforeAll(() => {
        const result = composeConfig(files, { JWT_SECRET });
        if (result.status !== 0) throw new Error(`compose rejects ${files.join(' + ')}:\n${result.output}`);
        compose = parse(result.output) as Compose;
        apps = Object.entries(compose.services).filter(([, service]) => isApp(service));
      });

      it('will not start without JWT_SECRET, naming it', () => {
        const result = composeConfig(files, {});
        expect(result.status).not.toBe(0);
        expect(result.output).toContain('JWT_SECRET');
      });

      it("runs three instances whose environment passes the app's own configuration check", () => {
        expect(apps.map(([name]) => name)).toEqual(['app1', 'app2', 'app3']);
        const known = new Set(Object.keys(envSchema.shape));
        for (const [name, service] of apps) {
          const env = environmentOf(service);
          // A misspelt name would be ignored by the app, leaving the default in place.
          expect({ name, unknown: Object.keys(env).filter((key) => !known.has(key)) }).toEqual({ name, unknown: [] });
          expect(() => parseEnv(env)).not.toThrow();
          expect(parseEnv(env)).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0', JWT_SECRET });
        }
        const ids = apps.map(([, service]) => environmentOf(service).INSTANCE_ID);
        expect(new Set(ids).size).toBe(apps.length);
        // One database and one bus for all of them: messages and presence are shared through them.
        for (const key of ['DATABASE_URL', 'REDIS_URL']) {
          expect(new Set(apps.map(([, service]) => environmentOf(service)[key])).size).toBe(1);
        }
      });

      it('starts each instance only once the PostgreSQL and Redis it is given are healthy', () => {
        for (const [name, service] of apps) {
          const env = parseEnv(environmentOf(service));
          const target = redisTarget(env.REDIS_URL!)!;
          const hosts = [
            new URL(env.DATABASE_URL!).hostname,
            ...(target.kind === 'cluster' ? target.nodes.map((node) => node.host) : [new URL(target.url).hostname]),
          ];
          for (const host of hosts) {
            expect(Object.keys(compose.services)).toContain(host);
            expect(compose.services[host].healthcheck).toBeDefined();
            expect({ name, host, waits: waitsFor(compose, name, host) }).toEqual({ name, host, waits: true });
          }
        }
      });

      it("believes X-Forwarded-For from the balancer's address and no other", () => {
        const address = compose.services.lb.networks?.default?.ipv4_address;
        expect(address).toBeDefined();
        for (const [, service] of apps) {
          const trusted = proxyaddr.compile(trustList(parseEnv(environmentOf(service)).TRUST_PROXY!));
          expect(trusted(address!, 0)).toBe(true);
          // Another container of the same network: an instance, say.
          expect(
            trusted(
              address!.replace(/\d+$/, (last) => String(Number(last) + 1)),
              0,
            ),
          ).toBe(false);
        }
      });

      it('starts the balancer on 8080 once every instance is healthy', () => {
        const lb = compose.services.lb;
        for (const [name] of apps)
          expect(lb.depends_on?.[name]).toEqual(expect.objectContaining({ condition: 'service_healthy' }));
        const published = (lb.ports ?? []).map((port) =>
          typeof port === 'string' ? port : `${port.published}:${port.target}`,
        );
        expect(published).toContainEqual(expect.stringMatching(/^8080:8080\b/));
      });

      (haveNginx && canUnshare ? it : it.skip)(
        haveNginx && canUnshare
          ? "the balancer's nginx config passes nginx -t where the stack mounts it, its upstreams resolving to the services"
          : `nginx -t on the balancer's config: SKIPPED, needs ${NGINX} and unshare --mount (root)`,
        () => {
          const dir = mkdtempSync(join(tmpdir(), 'compose-lb-'));
          try {
            // The balancer's file system: every file the stack mounts into it, at its path in the container.
            const mounts = (compose.services.lb.volumes ?? []).map(mountOf);
            expect(mounts.map((mount) => mount.target)).toContain('/etc/nginx/nginx.conf');
            for (const { source, target } of mounts) {
              mkdirSync(join(dir, dirname(target)), { recursive: true });
              copyFileSync(source, join(dir, target));
            }
            const conf = join(dir, 'etc', 'nginx', 'nginx.conf');
            const [major, minor, patch] = nginxVersion();
            // `resolve` on upstream servers came with nginx 1.27.3 (the stack's image has it); older ones refuse it.
            if (major * 1e6 + minor * 1e3 + patch < 1_027_003) {
              writeFileSync(conf, readFileSync(conf, 'utf8').replace(/[ \t]+resolve(?=[ \t;])/g, ''));
            }
            // Only the stack's services resolve, as on its network.
            const hosts = join(dir, 'hosts');
            writeFileSync(
              hosts,
              ['127.0.0.1 localhost', ...Object.keys(compose.services).map((name, i) => `127.0.1.${i + 1} ${name}`)]
                .join('\n')
                .concat('\n'),
            );
            // nginx -t makes its temp folders, owned by its workers' user: in a folder of the test's, not the machine's.
            const temp = /--http-client-body-temp-path=(\S+)/.exec(
              spawnSync(NGINX, ['-V'], { encoding: 'utf8' }).stderr,
            );
            const tempRoot = temp ? dirname(temp[1]) : '';
            mkdirSync(join(dir, 'temp'));
            const script = [
              'mount --bind "$1" /etc/hosts',
              '{ [ ! -d "$5" ] || mount --bind "$4/temp" "$5"; }',
              'exec "$2" -t -p "$3/" -c "$3/nginx.conf" -e "$4/error.log"',
            ].join(' && ');
            // A file for nginx's output: /dev/stderr cannot be opened on the socket that a pipe from here would be.
            const out = openSync(join(dir, 'output.log'), 'w');
            const result = spawnSync(
              'unshare',
              ['--mount', 'sh', '-c', script, 'sh', hosts, NGINX, dirname(conf), dir, tempRoot],
              { stdio: ['ignore', out, out] },
            );
            closeSync(out);
            const output = readFileSync(join(dir, 'output.log'), 'utf8');
            // The output first: on failure it says what nginx rejected.
            expect(output).toContain('test is successful');
            expect(result.status).toBe(0);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      );

      describe("the instances' health check", () => {
        let db: TestDatabase;
        let app: AppProcess;
        let notReady: Server;

        beforeAll(async () => {
          db = await TestDatabase.create();
          app = await AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
          // Alive but not ready, as an instance is while it drains or while its database is away.
          notReady = createServer((request, response) => {
            response.statusCode = request.url === '/health/ready' ? 503 : 200;
            response.end();
          });
          await new Promise<void>((resolve) => notReady.listen(0, '127.0.0.1', resolve));
        });

        afterAll(async () => {
          await new Promise((resolve) => notReady?.close(resolve));
          await app?.stop();
          await db?.drop();
        });

        it('passes on a ready instance and fails on one that is alive but not ready, or gone', async () => {
          const notReadyUrl = `http://127.0.0.1:${(notReady.address() as AddressInfo).port}`;
          for (const [, service] of apps) {
            expect(await runHealthCheck(service, app.url)).toBe(0);
            expect(await runHealthCheck(service, notReadyUrl)).toBe(1);
          }
          const url = app.url;
          await app.stop();
          expect(await runHealthCheck(apps[0][1], url)).toBe(1);
        });
      });
    });
  },
);

// ---------------------------------------------------------------------------------------------------------------
// deploy/nginx.conf in front of real instances: the local cluster, which renders it.

(canRunCluster ? describe : describe.skip)(
  canRunCluster
    ? 'deploy/nginx.conf in front of the local cluster'
    : `local cluster: SKIPPED, needs ${NGINX} and dist/main.js`,
  () => {
    it('balances HTTP and WebSocket over the instances, keeps /metrics to itself, skips a killed instance and stops everything on SIGTERM', async () => {
      const db = await TestDatabase.create();
      const cluster = await LocalCluster.start(2, { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
      const sockets: { dispose(): Promise<void> }[] = [];
      try {
        expect(cluster.pids()).toHaveLength(3);
        expect((await fetch(`${cluster.url}/health/ready`)).status).toBe(200);
        const user = await signUp(cluster.url);

        // Round robin, no stickiness: two sockets in a row land on different instances. Each was upgraded through
        // nginx and kept open (the instances count it), not just answered.
        for (let i = 0; i < 2; i++) {
          const handle = connect(cluster.wsUrl, user.token);
          sockets.push(handle);
          await new Promise<void>((resolve, reject) => {
            handle.client.on('connected', () => resolve());
            handle.client.on('closed', (event) => reject(new Error(`closed: ${JSON.stringify(event)}`)));
          });
        }
        const counts = () => Promise.all(cluster.instanceUrls.map((url) => readMetric(url, 'chat_ws_connections')));
        expect(await eventually(counts, (each) => each.every((count) => count === 1))).toEqual([1, 1]);

        // The instances serve /metrics here (no METRICS_PORT); the balancer does not pass it on.
        expect((await fetch(`${cluster.instanceUrls[0]}/metrics`)).status).toBe(200);
        expect((await fetch(`${cluster.url}/metrics`)).status).toBe(404);

        // An instance that dies without a word: every request and handshake still reaches the other one.
        const [first] = cluster.pids();
        process.kill(first, 'SIGKILL');
        await eventually(
          () =>
            fetch(`${cluster.instanceUrls[0]}/health/live`).then(
              () => true,
              () => false,
            ),
          (up) => !up,
        );
        // Requests first: round robin sends one of the first two to the dead instance, and nginx must try the
        // other instead of answering 502.
        for (let i = 0; i < 4; i++) {
          const response = await fetch(`${cluster.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ __typename }' }),
          });
          expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
        }
        for (let i = 0; i < 4; i++) {
          // Without a token the app closes with 4403: the upgrade reached a live instance through nginx.
          expect(await wsCloseCode(cluster.wsUrl)).toBe(4403);
        }

        // nginx's workers too: they are what keeps listening when only their master goes.
        const pids = cluster.pids().flatMap((pid) => [pid, ...descendants(pid)]);
        expect(pids.length).toBeGreaterThan(3);
        await Promise.all(sockets.map((socket) => socket.dispose()));
        await cluster.stop();
        expect(pids.filter(isAlive)).toEqual([]);
      } finally {
        await Promise.all(sockets.map((socket) => socket.dispose()));
        await cluster.kill();
        await db.drop();
      }
    }, 90_000);

    it('rolls under npm run cluster at LOG_LEVEL=warn, by the pid it names', async () => {
      const db = await TestDatabase.create();
      const cluster = await LocalCluster.start(
        2,
        { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'warn' },
        { throughNpm: true },
      );
      try {
        // The instances said nothing at info level; the cluster waited for their readiness instead.
        expect(cluster.output).not.toMatch(/\[local-\d\].*listening on/);
        expect(cluster.output).toMatch(/local-2 ready on http:\/\/127\.0\.0\.1:\d+/);
        expect(cluster.output).toContain(`kill -HUP ${cluster.scriptPid}`);
        await cluster.rollingRestart();
        expect((await fetch(`${cluster.url}/health/ready`)).status).toBe(200);
        // Every instance, restarted ones included, drained and exited 0.
        await cluster.stop();
        const exits = cluster.output.match(/local-\d exited .*/g) ?? [];
        expect(exits.length).toBeGreaterThanOrEqual(2);
        expect(exits.filter((line) => !/exited with code 0$/.test(line))).toEqual([]);
      } finally {
        await cluster.kill();
        await db.drop();
      }
    }, 120_000);

    it.each([
      ['SIGTERM to npm', 'SIGTERM', false, false],
      ['SIGINT to npm', 'SIGINT', false, false],
      ["a terminal's Ctrl-C (SIGINT to npm's process group)", 'SIGINT', true, false],
      // The copies of one Ctrl-C may arrive as one signal; here they surely arrive as two.
      ['a Ctrl-C that reaches the script twice, from the terminal and from npm', 'SIGINT', true, true],
    ] as const)(
      'npm run cluster: %s drains every instance and stops nginx',
      async (_, signal, group, twice) => {
        const db = await TestDatabase.create();
        const cluster = await LocalCluster.start(
          1,
          { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL },
          { throughNpm: true },
        );
        try {
          const pids = [cluster.scriptPid, ...cluster.pids().flatMap((pid) => [pid, ...descendants(pid)])];
          expect(pids.filter(isAlive)).toHaveLength(pids.length);
          if (twice) {
            process.kill(cluster.scriptPid, signal);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          // npm passes the signal on to the script and waits for it.
          await cluster.stop({ signal, group });
          expect(pids.filter(isAlive)).toEqual([]);
          // Drained, not cut short: one stop, however many copies of the signal arrived.
          expect(cluster.output).toMatch(new RegExp(`\\b${signal}: stopping nginx and 1 running instance`));
          expect(cluster.output).toMatch(/local-1 exited with code 0/);
          expect(cluster.output).not.toMatch(/SIGKILL/);
        } finally {
          await cluster.kill();
          await db.drop();
        }
      },
      60_000,
    );
  },
);

function wsCloseCode(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no close from the server within 10 s'));
    }, 10_000);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
