import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDatabase } from './support/database';
import { killAll, processesIn } from './support/processes';
import { TEST_JWT_SECRET, TEST_KEY_PREFIX, TEST_REDIS_URL } from './support/env';

/**
 * `npm start` (scripts/start.mjs) on a copy of the project whose dist/ is newer than its sources: it must start
 * without building, as the process that was started, and leave nothing running after SIGTERM, whether sent to
 * that process or to npm, or SIGINT to npm.
 */
const ROOT = join(__dirname, '..');
const canRun = existsSync(join(ROOT, 'dist', 'main.js'));

(canRun ? describe : describe.skip)('npm start', () => {
  let copy: string;
  let db: TestDatabase;

  beforeAll(async () => {
    copy = mkdtempSync(join(tmpdir(), 'chat-start-'));
    for (const entry of [
      'src',
      'web',
      'scripts',
      'package.json',
      'nest-cli.json',
      'tsconfig.json',
      'tsconfig.build.json',
    ]) {
      cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
    }
    cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    markFresh(copy);
    db = await TestDatabase.create();
  });

  afterAll(async () => {
    await db?.drop();
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  const env = () => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    NO_COLOR: '1',
    PORT: '0',
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: TEST_KEY_PREFIX,
    JWT_SECRET: TEST_JWT_SECRET,
  });

  it('tells a fresh dist/ from a stale one', () => {
    expect(staleReason(copy)).toBe('fresh');
    const file = join(copy, 'src', 'main.ts');
    const later = new Date(Date.now() + 5_000);
    utimesSync(file, later, later);
    expect(staleReason(copy)).toMatch(/^src\/ changed since the last build$/);
    markFresh(copy);
    writeFileSync(join(copy, 'web', 'added.ts'), '');
    utimesSync(join(copy, 'web', 'added.ts'), later, later);
    expect(staleReason(copy)).toMatch(/^web\/ changed/);
    unlinkSync(join(copy, 'web', 'added.ts'));
    markFresh(copy);
    expect(staleReason(copy)).toBe('fresh');
  });

  it('runs the app in the started process without building; SIGTERM to it frees the port', async () => {
    const child = spawn(process.execPath, [join(copy, 'scripts', 'start.mjs')], { cwd: copy, env: env() });
    const { url, output } = await listening(child);
    expect(output()).not.toMatch(/building/);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);

    child.kill('SIGTERM');
    expect(await exitCode(child)).toBe(0);
    expect(await accepts(url)).toBe(false);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('leaves nothing running after %s to npm', async (signal) => {
    const npm = spawn('npm', ['start'], { cwd: copy, env: env() });
    try {
      const { url, output } = await listening(npm);
      expect(output()).not.toMatch(/building/);

      // To npm's pid alone, not its process group (a terminal's Ctrl-C reaches every process in the group).
      npm.kill(signal);
      // npm passes the signal on and waits for the app, which drains and exits (npm's own code varies: it may
      // die of the signal it got).
      await exitCode(npm, 15_000);
      expect(output()).toContain(`${signal}: draining`);
      expect(await accepts(url)).toBe(false);
      expect(processesIn(copy)).toEqual([]);
    } finally {
      killAll(processesIn(copy));
      npm.kill('SIGKILL');
    }
  });
});

/** Sources a minute old, the build outputs now. */
function markFresh(root: string): void {
  const old = new Date(Date.now() - 60_000);
  const now = new Date();
  const walk = (path: string) => {
    utimesSync(path, old, old);
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path)) walk(join(path, name));
    }
  };
  for (const entry of ['src', 'web', 'scripts', 'nest-cli.json', 'tsconfig.json', 'tsconfig.build.json']) {
    walk(join(root, entry));
  }
  for (const output of [join('dist', 'main.js'), join('dist', 'public', 'index.html')]) {
    utimesSync(join(root, output), now, now);
  }
}

function staleReason(root: string): string {
  const module = join(root, 'scripts', 'build-if-stale.mjs');
  return execFileSync(process.execPath, [
    '--input-type=module',
    '-e',
    `import { staleReason } from ${JSON.stringify(module)}; console.log(staleReason() ?? 'fresh');`,
  ])
    .toString()
    .trim();
}

/** Resolves with the URL from the start-up line, and everything printed so far (and later) by `output()`. */
function listening(child: ChildProcess): Promise<{ url: string; output: () => string }> {
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start in time:\n${text}`)), 45_000);
    const check = () => {
      const match = /listening on (http:\/\/[^\s"\\]+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve({ url: match[1], output: () => text });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${text}`));
    });
  });
}

/** The exit code; with `timeoutMs`, rejects when the process has not exited by then. */
function exitCode(child: ChildProcess, timeoutMs?: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => reject(new Error(`still running ${timeoutMs} ms later`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Whether something accepts TCP connections at the URL's port. */
function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
