import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { parseDocument } from 'yaml';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { canRunCluster, descendants, isAlive, LocalCluster, NGINX } from './support/local-cluster';

/**
 * The deployment topology, checked without Docker: docker-compose.yml, deploy/nginx.conf and the shared
 * deploy/nginx-proxy.conf, the Dockerfile; with nginx installed, also `nginx -t` on the load balancer config
 * and the local cluster (scripts/cluster.mjs) end to end.
 */
const ROOT = join(__dirname, '..');
const haveNginx = existsSync(NGINX);
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

// ---------------------------------------------------------------------------------------------------------------
// docker-compose.yml read by the `yaml` package, with every scalar a string (its failsafe schema) and `<<` merges.

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

const parseYaml = (source: string): Yaml => parseDocument(source, { merge: true, schema: 'failsafe' }).toJS() as Yaml;

const asMap = (value: Yaml | undefined, what: string): YamlMap => {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} is not a mapping`);
  return value;
};
/** A scalar as a string (null as ''); a mapping or sequence where a scalar belongs is an error. */
const asString = (value: Yaml | undefined): string => {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new Error(`expected a scalar, got ${JSON.stringify(value)}`);
  return value;
};
const asList = (value: Yaml | undefined): string[] =>
  value === undefined || value === null ? [] : Array.isArray(value) ? value.map(asString) : [asString(value)];

/** `environment:` as a mapping or as a list of KEY=value. */
function environmentOf(service: YamlMap): Record<string, string> {
  const env = service.environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env
        .map(asString)
        .map((entry) => [entry.split('=')[0], entry.includes('=') ? entry.slice(entry.indexOf('=') + 1) : '']),
    );
  }
  return Object.fromEntries(Object.entries(asMap(env, 'environment')).map(([k, v]) => [k, asString(v)]));
}

/** `depends_on:` as a list or as a mapping with conditions: name -> condition. */
function dependsOn(service: YamlMap): Record<string, string> {
  const deps = service.depends_on;
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [asString(d), 'service_started']));
  return Object.fromEntries(
    Object.entries(asMap(deps, 'depends_on')).map(([name, spec]) => [
      name,
      asString(asMap(spec, `depends_on.${name}`).condition) || 'service_started',
    ]),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// nginx helpers

/** Seconds in an nginx time value: 3600, 3600s, 60m, 1h, 1d. */
function nginxSeconds(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (!match) throw new Error(`not an nginx time: ${value}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? 's']!;
  return Number(match[1]) * unit;
}

/** Every directive `name args;` with the brace depth it stands at (0 = the file's own context). */
function directives(config: string): { name: string; args: string[]; depth: number }[] {
  const found: { name: string; args: string[]; depth: number }[] = [];
  let depth = 0;
  const text = config
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .join('\n');
  for (const token of text.match(/[^{};]+[{};]|[{}]/g) ?? []) {
    const body = token.slice(0, -1).trim();
    const end = token.slice(-1);
    if (end === ';' && body) {
      const [name, ...args] = body.split(/\s+/);
      found.push({ name, args, depth });
    }
    if (end === '{') depth++;
    if (end === '}') depth--;
  }
  return found;
}

/** deploy/nginx.conf made runnable here: app hosts -> loopback addresses, pid/logs/temp files in `dir`. */
function localNginxConf(config: string, dir: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${dir}/${kind}_temp;\n`)
    .join('');
  return (
    config
      .replace(/\bserver\s+app(\d+):(\d+)/g, 'server 127.0.0.$1:$2')
      // Debian's nginx predates `resolve` on upstream servers (the compose image, 1.27, has it).
      .replace(/[ \t]+resolve;/g, ';')
      .replace(/^([ \t]*)listen\s+[^;]+;/m, '$1listen 127.0.0.1:8080;')
      .replace(/^([ \t]*)pid\s+[^;]+;/m, `$1pid ${dir}/nginx.pid;`)
      .replace(/^([ \t]*error_log\s+)[^\s;]+/m, `$1${dir}/error.log`)
      .replace(/^([ \t]*access_log\s+)[^\s;]+/m, `$1${dir}/access.log`)
      .replace(/^([ \t]*http\s*\{[ \t]*\n)/m, `$1${temp}`)
  );
}

// ---------------------------------------------------------------------------------------------------------------

describe('deployment configuration', () => {
  const compose = asMap(parseYaml(read('docker-compose.yml')), 'docker-compose.yml');
  const services = asMap(compose.services, 'services');
  const service = (name: string) => asMap(services[name], `services.${name}`);
  const apps = ['app1', 'app2', 'app3'];
  const nginxConf = read('deploy/nginx.conf');
  const proxyConf = read('deploy/nginx-proxy.conf');

  describe('docker-compose.yml', () => {
    it('has postgres, redis, three app instances and a load balancer', () => {
      expect(Object.keys(services)).toEqual(expect.arrayContaining(['postgres', 'redis', ...apps, 'lb']));
    });

    it('runs PostgreSQL 15 with a volume and a pg_isready health check', () => {
      const postgres = service('postgres');
      expect(postgres.image).toMatch(/^postgres:15/);
      expect(environmentOf(postgres)).toMatchObject({ POSTGRES_PASSWORD: 'chat', POSTGRES_DB: 'chat' });
      expect(asList(postgres.volumes).some((v) => v.startsWith('pgdata:'))).toBe(true);
      expect(Object.keys(asMap(compose.volumes, 'volumes'))).toContain('pgdata');
      expect(asList(asMap(postgres.healthcheck, 'postgres.healthcheck').test).join(' ')).toContain('pg_isready');
    });

    it('runs Redis 7 without persistence and with a redis-cli ping health check', () => {
      const redis = service('redis');
      expect(redis.image).toMatch(/^redis:7/);
      const command = Array.isArray(redis.command) ? asList(redis.command) : asString(redis.command).split(/\s+/);
      expect(command).toEqual(expect.arrayContaining(['--save', '--appendonly', 'no']));
      expect(command[command.indexOf('--save') + 1]).toMatch(/^(|""|'')$/);
      expect(asList(asMap(redis.healthcheck, 'redis.healthcheck').test).join(' ')).toMatch(/redis-cli\s+ping/);
    });

    it.each(apps)('%s is built from the Dockerfile and configured for the shared PostgreSQL and Redis', (name) => {
      const app = service(name);
      const build = app.build;
      expect(build).toBeDefined();
      if (typeof build === 'string') expect(build).toBe('.');
      else expect(asMap(build, 'build')).toMatchObject({ context: '.' });
      const env = environmentOf(app);
      expect(env).toMatchObject({
        DATABASE_URL: 'postgres://postgres:chat@postgres:5432/chat',
        REDIS_URL: 'redis://redis:6379',
        HOST: '0.0.0.0',
        INSTANCE_ID: name,
      });
      // Compose refuses to start without a secret: ${JWT_SECRET:?message}.
      expect(env.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/);
      expect(dependsOn(app)).toMatchObject({ postgres: 'service_healthy', redis: 'service_healthy' });
    });

    it("believes X-Forwarded-For from the balancer's address alone", () => {
      const lb = service('lb');
      const address = asString(asMap(asMap(lb.networks, 'lb.networks').default, 'lb.networks.default').ipv4_address);
      expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      for (const name of apps) expect(environmentOf(service(name)).TRUST_PROXY).toBe(address);
    });

    it('gives every instance its own INSTANCE_ID', () => {
      const ids = apps.map((name) => environmentOf(service(name)).INSTANCE_ID);
      expect(new Set(ids).size).toBe(apps.length);
    });

    it('publishes the load balancer on 8080 with deploy/nginx.conf and the shared proxy file mounted', () => {
      const lb = service('lb');
      // 1.27.3 or later re-resolves upstream names (`resolve`), so a recreated replica is found again.
      expect(lb.image).toMatch(/^nginx:1\.(2[7-9]|[3-9]\d)/);
      expect(asList(lb.ports).some((p) => /(^|:)8080:8080(\/tcp)?$/.test(p))).toBe(true);
      const volumes = asList(lb.volumes);
      expect(volumes).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^\.\/deploy\/nginx\.conf:\/etc\/nginx\/nginx\.conf(:ro)?$/),
          expect.stringMatching(/^\.\/deploy\/nginx-proxy\.conf:\/etc\/nginx\/nginx-proxy\.conf(:ro)?$/),
        ]),
      );
      // Only once every instance reports ready: no 502s while they start.
      for (const app of apps) expect(dependsOn(lb)[app]).toBe('service_healthy');
      for (const app of apps) {
        const check = asList(asMap(service(app).healthcheck, `${app}.healthcheck`).test).join(' ');
        expect(check).toContain('/health/ready');
      }
    });
  });

  describe('deploy/nginx.conf and deploy/nginx-proxy.conf', () => {
    const main = directives(nginxConf);
    const upstream = /upstream\s+chat\s*\{([^}]*)\}/.exec(nginxConf)?.[1] ?? '';

    it('balances round robin over app1..app3:3000 with quick passive failure detection', () => {
      const servers = directives(upstream).filter((d) => d.name === 'server');
      expect(servers.map((s) => s.args[0])).toEqual(['app1:3000', 'app2:3000', 'app3:3000']);
      for (const server of servers)
        expect(server.args).toEqual(expect.arrayContaining(['max_fails=1', 'fail_timeout=2s', 'resolve']));
      // `resolve` needs a shared-memory zone and a resolver (Docker's DNS).
      expect(directives(upstream).map((d) => d.name)).toContain('zone');
      expect(/^\s*resolver\s+127\.0\.0\.11\b/m.test(nginxConf)).toBe(true);
      // No sticky sessions: instances share state through PostgreSQL and Redis.
      const names = directives(upstream).map((d) => d.name);
      for (const sticky of ['ip_hash', 'hash', 'sticky', 'least_conn', 'random']) expect(names).not.toContain(sticky);
    });

    it('listens on 8080, maps the Upgrade header and includes the shared proxy settings in the server', () => {
      expect(main).toContainEqual(expect.objectContaining({ name: 'listen', args: ['8080'] }));
      expect(nginxConf).toMatch(/map\s+\$http_upgrade\s+\$connection_upgrade\s*\{/);
      expect(main).toContainEqual({ name: 'include', args: ['nginx-proxy.conf'], depth: 2 });
    });

    it('passes WebSocket upgrades, forwarding headers and HTTP/1.1 to the chat upstream', () => {
      const shared = directives(proxyConf);
      const headers = shared.filter((d) => d.name === 'proxy_set_header').map((d) => d.args.join(' '));
      expect(headers).toEqual(
        expect.arrayContaining([
          'Upgrade $http_upgrade',
          'Connection $connection_upgrade',
          'Host $host',
          'X-Forwarded-For $proxy_add_x_forwarded_for',
          'X-Forwarded-Proto $scheme',
        ]),
      );
      expect(proxyConf).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade;/);
      expect(shared).toContainEqual(expect.objectContaining({ name: 'proxy_http_version', args: ['1.1'] }));
      expect(shared.filter((d) => d.name === 'proxy_pass').map((d) => d.args[0])).toEqual(
        expect.arrayContaining(['http://chat']),
      );
      // A proxy_set_header inside a location would silently drop every inherited one there.
      expect(shared.filter((d) => d.name === 'proxy_set_header' && d.depth > 0)).toEqual([]);
    });

    it('keeps WebSockets open for at least an hour and retries failed non-WebSocket requests elsewhere', () => {
      const shared = directives(proxyConf);
      const longest = (name: string) =>
        Math.max(0, ...shared.filter((d) => d.name === name).map((d) => nginxSeconds(d.args[0])));
      expect(longest('proxy_read_timeout')).toBeGreaterThanOrEqual(3600);
      expect(longest('proxy_send_timeout')).toBeGreaterThanOrEqual(3600);
      expect(shared.filter((d) => d.name === 'proxy_next_upstream').map((d) => d.args.join(' '))).toContain(
        'error timeout http_502 http_503',
      );
    });
  });

  describe('Dockerfile', () => {
    // Continuation lines joined, comments dropped.
    const dockerfile = read('Dockerfile')
      .replace(/\\\r?\n/g, ' ')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const instructions = dockerfile.map((line) => {
      const [name, ...rest] = line.split(/\s+/);
      return { name: name.toUpperCase(), args: rest.join(' ') };
    });
    const of = (name: string) => instructions.filter((i) => i.name === name).map((i) => i.args);
    const runtime = instructions.slice(instructions.map((i) => i.name).lastIndexOf('FROM'));

    it('builds in one stage and runs from node:20-bookworm-slim with production dependencies only', () => {
      const stages = of('FROM');
      expect(stages.length).toBeGreaterThanOrEqual(2);
      for (const stage of stages) expect(stage).toMatch(/^node:20-bookworm-slim\b/);
      expect(of('RUN').some((run) => /npm ci(?!\s+--omit)/.test(run))).toBe(true);
      expect(of('RUN').some((run) => run.includes('npm run build'))).toBe(true);
      expect(runtime.filter((i) => i.name === 'RUN').some((i) => i.args.includes('npm ci --omit=dev'))).toBe(true);
      expect(runtime.some((i) => i.name === 'COPY' && /--from=\S+\s+\S*dist\b/.test(i.args))).toBe(true);
    });

    it('runs as a non-root user in production mode on 0.0.0.0:3000 with a liveness health check', () => {
      const users = runtime.filter((i) => i.name === 'USER').map((i) => i.args.split(':')[0]);
      expect(users.length).toBeGreaterThan(0);
      expect(['root', '0']).not.toContain(users[users.length - 1]);
      const env = runtime
        .filter((i) => i.name === 'ENV')
        .map((i) => i.args)
        .join(' ');
      expect(env).toMatch(/\bNODE_ENV=production\b/);
      expect(env).toMatch(/\bHOST=0\.0\.0\.0\b/);
      expect(env).toMatch(/\bPORT=3000\b/);
      expect(of('EXPOSE')).toContain('3000');
      expect(of('HEALTHCHECK').join(' ')).toMatch(/CMD .*node.*\/health\/live/);
      expect(of('CMD').pop()?.replace(/\s/g, '')).toBe('["node","dist/main.js"]');
    });

    it('keeps local build output and dependencies out of the build context', () => {
      const ignored = read('.dockerignore')
        .split('\n')
        .map((line) => line.trim());
      expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
    });
  });

  describe('with nginx installed', () => {
    (haveNginx ? it : it.skip)(
      haveNginx
        ? 'nginx -t accepts deploy/nginx.conf (app hosts -> 127.0.0.x, local paths)'
        : `nginx -t on deploy/nginx.conf: SKIPPED, ${NGINX} not installed (apt-get install -y nginx)`,
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'nginx-test-'));
        try {
          writeFileSync(join(dir, 'nginx.conf'), localNginxConf(nginxConf, dir));
          writeFileSync(join(dir, 'nginx-proxy.conf'), proxyConf);
          const result = spawnSync(
            NGINX,
            ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
            {
              encoding: 'utf8',
            },
          );
          const output = `${result.stdout}${result.stderr}`;
          // The output first: on failure it says what nginx rejected.
          expect(output).toContain('test is successful');
          expect(result.status).toBe(0);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

    (canRunCluster ? it : it.skip)(
      canRunCluster
        ? 'scripts/cluster.mjs balances HTTP and WebSocket over two instances and stops them all on SIGTERM'
        : `scripts/cluster.mjs: SKIPPED, needs ${NGINX} and dist/main.js`,
      async () => {
        const db = await TestDatabase.create();
        const cluster = await LocalCluster.start(2, { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
        try {
          expect(cluster.pids()).toHaveLength(3);
          expect((await fetch(`${cluster.url}/health/ready`)).status).toBe(200);
          for (let i = 0; i < 4; i++) {
            const response = await fetch(`${cluster.url}/graphql`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ query: '{ __typename }' }),
            });
            expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
          }
          // Without a token the app closes with 4403: proof that the upgrade reached an instance through nginx.
          expect(await wsCloseCode(cluster.wsUrl)).toBe(4403);
          // The instances serve /metrics here (no METRICS_PORT); the balancer does not pass it on.
          expect((await fetch(`${cluster.instanceUrls[0]}/metrics`)).status).toBe(200);
          expect((await fetch(`${cluster.url}/metrics`)).status).toBe(404);

          const access = /nginx config and logs in (\S+)/.exec(cluster.output)?.[1];
          const upstreams = readFileSync(join(access!, 'access.log'), 'utf8').match(/upstream=127\.0\.0\.1:\d+/g) ?? [];
          expect(new Set(upstreams)).toEqual(
            new Set(cluster.instanceUrls.map((url) => `upstream=${url.replace('http://', '')}`)),
          );

          // nginx's workers too: they are what keeps listening when only their master goes.
          const pids = cluster.pids().flatMap((pid) => [pid, ...descendants(pid)]);
          expect(pids.length).toBeGreaterThan(3);
          expect(await cluster.stop()).toBe(0);
          expect(pids.filter(isAlive)).toEqual([]);
        } finally {
          await cluster.kill();
          await db.drop();
        }
      },
      90_000,
    );

    (canRunCluster ? it : it.skip)(
      canRunCluster
        ? 'npm run cluster starts under LOG_LEVEL=warn, names its pid and the roll command, and SIGTERM to npm stops it all'
        : `npm run cluster: SKIPPED, needs ${NGINX} and dist/main.js`,
      async () => {
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
          const pid = Number(/\bpid (\d+): rolling restart with `kill -HUP (\d+)`/.exec(cluster.output)?.[1]);
          expect(cluster.output).toContain(`kill -HUP ${pid}`);
          expect(isAlive(pid)).toBe(true);

          await cluster.rollingRestart();
          expect((await fetch(`${cluster.url}/health/ready`)).status).toBe(200);

          const pids = [pid, ...cluster.pids().flatMap((each) => [each, ...descendants(each)])];
          await cluster.stop(); // npm re-raises the signal on itself: it exits on SIGTERM, with no code
          // npm is gone at once; its shell died of the signal, and the script noticed and stops everything.
          const deadline = Date.now() + 20_000;
          while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
          expect(pids.filter(isAlive)).toEqual([]);
        } finally {
          await cluster.kill();
          await db.drop();
        }
      },
      120_000,
    );
  });
});

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
