import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { TEST_PG_URL } from './support/env';
import { NGINX } from './support/local-cluster';

const ROOT = join(__dirname, '..');

interface Outcome {
  failed?: string;
  counts?: { expected: number; received: number };
  /** S2 only. */
  best?: { cpu?: Record<string, number> };
}

/**
 * `npm run bench -- --quick` end to end: every scenario against our app and every baseline, at toy sizes. It
 * proves the harness works (servers start, sockets subscribe, deliveries are counted), not any performance.
 */
describe('benchmark (quick)', () => {
  let out: string;
  /** A database left by a bench process that is gone (as a SIGKILLed run leaves one). */
  let leftBehind: string;

  const benchDatabases = async (): Promise<string[]> => {
    const client = new Client({ connectionString: process.env.BENCH_DATABASE_URL ?? TEST_PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE 'chat\\_bench\\_%' ORDER BY datname`,
      );
      return rows.map((row) => row.datname);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.once('exit', resolve));
    leftBehind = `chat_bench_${gone.pid}_0badc0de`;
    const client = new Client({ connectionString: process.env.BENCH_DATABASE_URL ?? TEST_PG_URL });
    await client.connect();
    await client.query(`CREATE DATABASE ${leftBehind}`).finally(() => client.end());
  });

  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
  });

  it('runs every scenario against every server and loses nothing', async () => {
    const before = await benchDatabases();
    expect(before).toContain(leftBehind);
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('npm', ['run', 'bench', '--', '--quick', '--out', out], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('exit', (exitCode) => resolve({ code: exitCode, output: text }));
    });
    // The run's own words when it fails: which scenario, which server, what was lost.
    if (code !== 0) throw new Error(`npm run bench -- --quick exited with ${String(code)}:\n${output.slice(-6000)}`);

    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(1);
    const results = JSON.parse(readFileSync(join(out, files[0]), 'utf8')) as {
      runs: Record<string, Record<string, Outcome>>[];
    };
    expect(results.runs).toHaveLength(1);
    const everyServer = ['app', 'ws-relay', 'graphql-naive', 'socketio', 'mercurius'];
    const expectedTargets: Record<string, string[]> = {
      S1: everyServer,
      S2: everyServer,
      S2i: ['app'],
      S2m: ['app'],
      S3: everyServer,
      S4: everyServer,
      S5: ['app'],
      S6: ['app'],
      // The local cluster behind nginx; the bench leaves P7 out without it.
      ...(existsSync(NGINX) ? { P7: ['app'] } : {}),
    };
    const counts: Record<string, string> = {};
    for (const [scenario, targets] of Object.entries(expectedTargets)) {
      for (const target of targets) {
        const outcome = results.runs[0][scenario]?.[target];
        counts[`${scenario} ${target}`] = outcome?.counts
          ? `${outcome.counts.received}/${outcome.counts.expected}`
          : `missing: ${outcome?.failed ?? 'no result'}`;
        expect(outcome?.counts?.expected).toBeGreaterThan(0);
      }
    }
    for (const [key, value] of Object.entries(counts)) {
      const [received, expected] = value.split('/');
      expect({ key, received }).toEqual({ key, received: expected });
    }
    // S2's ceiling step says what it cost in CPU, per delivery, for every server.
    const generatorUs: number[] = [];
    for (const target of expectedTargets.S2) {
      const cpu = results.runs[0].S2[target].best?.cpu ?? {};
      expect({ target, parts: Object.keys(cpu).sort() }).toEqual({
        target,
        parts: ['loadGeneratorUs', 'postgresUs', 'serverSysUs', 'serverUserUs'],
      });
      for (const value of Object.values(cpu)) expect(value).toBeGreaterThanOrEqual(0);
      generatorUs.push(cpu.loadGeneratorUs ?? 0);
    }
    // The generator's CPU is read (its workers' pids are the right ones). CPU time comes in clock ticks (10 ms),
    // which a quick run's half-second step may not reach, so it shows in some steps, not necessarily in each.
    expect(Math.max(...generatorUs)).toBeGreaterThan(0);
    const written = readFileSync(join(out, 'RESULTS.md'), 'utf8');
    expect(written).toContain('## Targets');
    expect(written).toContain('CPU per delivery at that step');
    // …and what each S2 ratio target would ask of the app's process, from this run's baselines.
    expect(written).toMatch(/What the S2 targets ask of our app's one process.*0\.75× baseline 1 .* µs per delivery/);
    // It dropped the database it made, and the one whose bench process was gone.
    expect(await benchDatabases()).toEqual(before.filter((name) => name !== leftBehind));
  }, 180_000);
});
