import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AppProcess, runToExit } from './support/app-process';
import { TestDatabase } from './support/database';
import { TEST_REDIS_URL } from './support/env';
import { ok, gql, signUp } from './support/gql';
import { eventually } from './support/presence';
import { MIGRATIONS } from '../src/database/migrations';

describe('start-up', () => {
  it('exits non-zero before listening, naming every bad variable and why', async () => {
    const { code, output } = await runToExit({
      NODE_ENV: 'production',
      PORT: 'eighty',
      DATABASE_URL: 'mysql://localhost/db',
      REDIS_URL: 'http://localhost',
      GRAPHQL_MAX_DEPTH: '-3',
    });
    expect(code).not.toBe(0);
    expect(output).not.toMatch(/listening on/);
    for (const variable of ['PORT', 'DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'GRAPHQL_MAX_DEPTH']) {
      expect(output).toContain(variable);
    }
    expect(output).toMatch(/JWT_SECRET: is required when NODE_ENV=production/);
    expect(output).toMatch(/DATABASE_URL: must be a postgres:\/\/ URL/);
  });

  it('runs migrations once when three instances start together on an empty database', async () => {
    const db = await TestDatabase.create();
    const apps = await Promise.all(
      [1, 2, 3].map(() => AppProcess.start({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL })),
    );
    try {
      const migrations = await db.query<{ name: string }>('SELECT name FROM migrations ORDER BY id');
      expect(migrations.map((row) => row.name)).toEqual(MIGRATIONS.map((migration) => new migration().name));
      for (const app of apps) {
        const user = await signUp(app.url);
        ok(await gql(app.url, '{ me { id } }', {}, user.token));
      }
    } finally {
      await Promise.all(apps.map((app) => app.stop()));
      await db.drop();
    }
  });

  it('gives instances started at once on one DATA_DIR, without JWT_SECRET, the one secret the first wrote', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chat-secret-'));
    const barrier = mkdtempSync(join(tmpdir(), 'chat-barrier-'));
    try {
      // Each child loads the configuration code, says it is ready, then waits for the others: they race for the file.
      const script = `
        const { existsSync, writeFileSync } = require('node:fs');
        const { AppConfig } = require(${JSON.stringify(resolve('dist/config/app-config.js'))});
        const [dataDir, barrier, me] = process.argv.slice(1);
        writeFileSync(barrier + '/ready-' + me, '');
        const giveUp = Date.now() + 30000;
        while (!existsSync(barrier + '/go') && Date.now() < giveUp);
        process.stdout.write(AppConfig.fromEnvironment({ NODE_ENV: 'development', DATA_DIR: dataDir }).jwtSecret);
      `;
      const children = Array.from({ length: 6 }, (_, i) => runNode(script, dataDir, barrier, String(i)));
      try {
        await eventually(
          async () => readdirSync(barrier).length,
          (ready) => ready === children.length,
        );
      } finally {
        // Whatever happened, the children go on and end.
        writeFileSync(join(barrier, 'go'), '');
      }
      const secrets = await Promise.all(children);
      const kept = readFileSync(join(dataDir, 'jwt-secret'), 'utf8');
      expect(kept.length).toBeGreaterThanOrEqual(16);
      expect(secrets).toEqual(secrets.map(() => kept));
      expect(readdirSync(dataDir)).toEqual(['jwt-secret']);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(barrier, { recursive: true, force: true });
    }
  });

  it('refuses to start on a generated secret file it cannot use, and leaves the file as it was', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chat-secret-'));
    try {
      writeFileSync(join(dataDir, 'jwt-secret'), 'short');
      const { code, output } = await runToExit({ NODE_ENV: 'development', DATA_DIR: dataDir, JWT_SECRET: undefined });
      expect(code).not.toBe(0);
      expect(output).toMatch(/JWT_SECRET: unset, and .*jwt-secret holds no usable secret/);
      expect(readFileSync(join(dataDir, 'jwt-secret'), 'utf8')).toBe('short');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says at info where it listens, which database and which bus, without Nest narration or a password', async () => {
    const db = await TestDatabase.create();
    const url = new URL(db.url);
    url.password = 'not-a-real-password'; // trust auth ignores it; the logs must not show it
    const app = await AppProcess.start({ DATABASE_URL: url.toString(), REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'info' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const messages = app.logs
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string });
      expect(messages.some((m) => /listening on http:\/\//.test(m.msg))).toBe(true);
      expect(messages.map((m) => m.msg)).toEqual(
        expect.arrayContaining([
          `database: PostgreSQL ${url.host}/${db.name}`,
          `bus: Redis ${new URL(TEST_REDIS_URL).host}`,
        ]),
      );
      expect(app.logs).not.toMatch(/dependencies initialized|Mapped \{|Nest application successfully started/);
      expect(app.logs).not.toContain('not-a-real-password');
    } finally {
      await app.stop();
      await db.drop();
    }
  });
});

function runNode(script: string, ...args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(process.execPath, ['-e', script, ...args], (error: Error | null, stdout: string) =>
      error ? fail(error) : done(stdout),
    ),
  );
}
