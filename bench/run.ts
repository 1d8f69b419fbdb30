/**
 * `npm run bench`: builds the app if needed, starts a private Redis and a fresh PostgreSQL database, runs each
 * scenario against our app and every baseline (fresh server processes and load-generator workers each time),
 * prints the tables and writes the results (JSON, and Markdown: bench/RESULTS.md for a complete full run).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppFixture } from './lib/fixture';
import { progressLine, setProgressPrefix } from './lib/pool';
import { createDatabase, killAll, startRedis } from './lib/processes';
import { checkTargets, cpuTicks, machine, nothingLost, Runs, scenarioTables, targetsTable } from './lib/report';
import {
  Context,
  FULL_PLAN,
  P99_LIMIT_MS,
  QUICK_PLAN,
  S2_GRACE_MS,
  RUNNERS,
  S2Result,
  SCENARIOS,
  SCENARIO_TARGETS,
  ScenarioName,
} from './lib/scenarios';
import { TargetName, TARGETS } from './lib/targets';
import { NGINX } from '../test/support/local-cluster';

const ROOT = join(__dirname, '..', '..');
const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const USAGE = `usage: npm run bench -- [options]

  --scenario S1,S2   scenarios to run (default: all of S1-S6, S2i and S2m)
  --target app,...   servers to run them against: app, ws-relay, graphql-naive, socketio, mercurius (default: all)
  --runs N           repeat everything N times and report medians (default 3; 1 with --quick)
  --quick            a tiny version of every scenario, to check the harness (well under a minute)
  --out DIR          write results (JSON and RESULTS.md) into DIR instead of bench/results and bench/RESULTS.md
  --profile          run the app under node --cpu-prof and print its hottest functions
  --s2-rate N        hold S2 at N deliveries/s for one 30 s step (tried once more if it fails on latency alone)
                     instead of searching for the ceiling, to profile one load

Environment: BENCH_DATABASE_URL (admin URL of the PostgreSQL server; default ${ADMIN_DATABASE_URL}),
BENCH_APP_NODE_ARGS (extra node flags for the app's processes, space-separated: --perf-basic-prof, --trace-gc, -r FILE).`;

interface Options {
  scenarios: ScenarioName[];
  targets: TargetName[];
  runs: number;
  quick: boolean;
  out?: string;
  profile: boolean;
  s2Rate?: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { scenarios: SCENARIOS, targets: TARGETS, runs: 3, quick: false, profile: false };
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    const list = <T extends string>(allowed: readonly T[]) =>
      value()
        .split(',')
        .map((v) => {
          const found = allowed.find((a) => a.toLowerCase() === v.trim().toLowerCase());
          return found ?? fail(`unknown value ${v} for ${flag}: expected one of ${allowed.join(', ')}`);
        });
    switch (flag) {
      case '--scenario':
      case '--scenarios':
        options.scenarios = list(SCENARIOS);
        break;
      case '--target':
      case '--targets':
        options.targets = list(TARGETS);
        break;
      case '--runs':
        options.runs = Number(value());
        if (!Number.isInteger(options.runs) || options.runs < 1) fail('--runs needs a whole number ≥ 1');
        runsGiven = true;
        break;
      case '--quick':
        options.quick = true;
        break;
      case '--out':
        options.out = value();
        break;
      case '--profile':
        options.profile = true;
        break;
      case '--s2-rate':
        options.s2Rate = Number(value());
        if (!Number.isInteger(options.s2Rate) || options.s2Rate < 1) fail('--s2-rate needs a whole number ≥ 1');
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown option ${flag}\n${USAGE}`);
    }
  }
  if (options.quick && !runsGiven) options.runs = 1;
  // P7 runs the local cluster behind Debian's nginx; without it the scenario is left out, and the run says so.
  if (options.scenarios.includes('P7') && !existsSync(NGINX)) {
    process.stderr.write(`bench: P7 skipped: it needs ${NGINX} (apt-get install nginx-light)\n`);
    options.scenarios = options.scenarios.filter((s) => s !== 'P7');
  }
  return options;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** `npm run build` when dist/main.js is missing or older than any source file. */
function buildAppIfNeeded(): void {
  const main = join(ROOT, 'dist', 'main.js');
  if (existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(ROOT, 'src'))) return;
  process.stderr.write('bench: building the app (npm run build)\n');
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  if (result.status !== 0) fail('npm run build failed');
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** The hottest functions by self time, summed over every .cpuprofile the app wrote. */
function summarizeProfiles(dir: string): string {
  const self = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[] };
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      if (!hits) continue;
      total += hits;
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
      const key = `${functionName || '(anonymous)'} ${where ? `${where}:${lineNumber + 1}` : ''}`.trim();
      self.set(key, (self.get(key) ?? 0) + hits);
      const pkg =
        /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1] ??
        (where.startsWith('dist/')
          ? 'app (dist)'
          : where.startsWith('node:')
            ? 'node core'
            : where
              ? where
              : functionName);
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
    }
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, hits]) => `${((hits / total) * 100).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  return `Self time by package or area:\n${top(byPackage, 15)}\n\nHottest functions (self time):\n${top(self, 30)}\n`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const base = options.quick ? QUICK_PLAN : FULL_PLAN;
  const plan = options.s2Rate
    ? { ...base, s2StartDeliveries: options.s2Rate, s2MaxSteps: 1, s2Refinements: 0, stepMs: 30_000 }
    : base;
  const started = Date.now();
  const cpuAtStart = cpuTicks();
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..+/, '');
  const outDir = options.out ?? join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const profileDir = join(outDir, `profiles-${stamp}`);
  const complete = options.scenarios.length === SCENARIOS.length && options.targets.length === TARGETS.length;

  buildAppIfNeeded();
  const redis = await startRedis();
  const database = await createDatabase(ADMIN_DATABASE_URL);
  let interrupted = false;
  const cleanUp = async () => {
    killAll();
    await redis.stop().catch(() => undefined);
    await database
      .drop()
      .catch((e: unknown) => process.stderr.write(`bench: could not drop the database: ${String(e)}\n`));
  };
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progressLine('');
    process.stderr.write('bench: interrupted, cleaning up\n');
    void cleanUp().then(() => process.exit(130));
  });

  const ctx: Context = {
    plan,
    env: {
      redisUrl: redis.url,
      databaseUrl: database.url,
      appNodeArgs: [
        ...(process.env.BENCH_APP_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        ...(options.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      ],
    },
    fixture: new AppFixture(randomBytes(3).toString('hex')),
    flushRedis: redis.flush,
    redisCommands: redis.commands,
    s2Best: {},
  };
  const runs: Runs = [];
  let failures = 0;
  try {
    for (let r = 0; r < options.runs; r++) {
      const run: Runs[number] = {};
      runs.push(run);
      ctx.s2Best = {};
      for (const scenario of options.scenarios) {
        // The targets take turns going first, run by run, so that none always meets a fresh (or a tired) machine.
        const targets = SCENARIO_TARGETS[scenario].filter((t) => options.targets.includes(t));
        for (const target of targets.map((_, i) => targets[(i + r) % targets.length])) {
          const label = `[run ${r + 1}/${options.runs} ${scenario} ${target}]`;
          setProgressPrefix(label);
          const t0 = Date.now();
          try {
            const result = await RUNNERS[scenario](ctx, target);
            (run[scenario] ??= {})[target] = result;
            if (scenario === 'S2') ctx.s2Best[target] = (result as S2Result).best?.deliveriesPerSec;
            const { expected, received } = result.counts;
            progressLine('');
            process.stderr.write(
              `${label} done in ${((Date.now() - t0) / 1000).toFixed(0)} s: received ${received}/${expected}${received === expected ? '' : ' LOST'}${result.errors.length ? `; errors: ${result.errors.slice(0, 3).join('; ')}` : ''}\n`,
            );
          } catch (error) {
            failures++;
            const message = error instanceof Error ? error.message : String(error);
            (run[scenario] ??= {})[target] = { failed: message };
            progressLine('');
            process.stderr.write(`${label} FAILED: ${message}\n`);
          }
        }
      }
    }
  } finally {
    await cleanUp();
  }

  const durationS = (Date.now() - started) / 1000;
  const checks = checkTargets(runs);
  const host = machine(cpuAtStart);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const tables = scenarioTables(runs);
  const markdown = `# Benchmark results

Written by \`${command}\` on ${new Date(started).toISOString()}; took ${(durationS / 60).toFixed(1)} min.
${options.quick ? '\n**Quick mode: tiny sizes, one run; these numbers mean nothing.**\n' : ''}
Machine: ${host.cpu}, ${host.ram} RAM, Node ${host.node}, ${host.kernel}. The load generator (${plan.workers} worker
processes), the servers, PostgreSQL and Redis share these cores, and other work may run on the machine, so treat
differences of a few percent as noise.${host.steal ? ` CPU steal (time the hypervisor gave to other guests) over the run: ${host.steal} of all CPU time.` : ''} Every figure is the median of ${options.runs} run(s); ratios are computed
within each run, then their median is taken.

## Targets

${checks.length ? targetsTable(checks) : 'No target applies to the scenarios that ran.'}

## Scenarios

${tables}

## How it is measured

- Subscribers of our app all use one selection, what a chat client renders for a new message:
  \`messageAdded(chatId) { id seq content createdAt user { id firstName } }\`. The baselines deliver the same
  fields. Our app's senders use \`sendMessage\` as a mutation over their own graphql-ws socket (what a connected
  client does); the sender is a member of the room and receives its own message too.
- Latency is publish-to-deliver, end to end: the send time travels in the message content and the receiving
  worker subtracts it from its own clock (performance.timeOrigin + now, one machine). For our app it includes the
  PostgreSQL commit that comes before the publish; the baselines have no database.
- S1 reads the server's \`VmRSS\` after the first tenth of the connections (whole rooms) and again after all of
  them, each time once every subscription has answered a probe, one message per room has been delivered and
  ${plan.s1SettleMs / 1000} s have passed; the figure is the difference over the connections in between, so one-time
  costs (code compiled on first use, pools and caches filled) are not charged to connections.
- ${
    options.s2Rate
      ? `S2 was held at ${options.s2Rate} deliveries/s (\`--s2-rate\`) for one step of ${plan.stepMs / 1000} s instead of searching for the ceiling; the step fails`
      : `S2 doubles the send rate from ${plan.s2StartDeliveries} deliveries/s in steps of ${plan.stepMs / 1000} s until a step fails`
  }
  (p99 > ${P99_LIMIT_MS} ms, a delivery missing ${S2_GRACE_MS / 1000} s after the step, a failed send, or the generator falling behind)${
    options.s2Rate
      ? ''
      : `, then bisects ${plan.s2Refinements} times between the last pass and the
  first failure`
  }. S2i is the same search with every subscriber also holding an \`inbox\` subscription (its chat list), so
  each message is also one inbox event per subscriber; only messageAdded deliveries count. S2m is the same search
  with member m of each room subscribing with the m mod 3-th of three selections: the chat page's, every field a
  schema explorer would tick (the author's email among them, shown to its owner only, so filled per subscriber),
  and \`seq content\`. The targets of a scenario take turns going first, run by run. A step that failed on
  latency alone is tried once more after the backlog drains (the cores are
  shared, and one hiccup should not decide the figure); a loss or a failed send is never retried. The figure is
  the last passing step's rate. Its received/expected column counts what had arrived once deliveries stopped after
  the last step, so what it calls lost never arrived, rather than arrived late.
- S2's CPU table is read from \`/proc/<pid>/stat\` (utime and stime) of the server's process, of every
  \`postgres\` process on the machine and of the load generator's workers, from the start of the step to the end
  of its drain, divided by the step's deliveries. "Kernel" is the server's stime: almost all of it is socket
  writes, which on loopback include the receiving side's TCP work, so it follows how many frames a server
  writes per delivery and how large they are.
- S4 runs at half of the target's own S2 figure from the same run (at most 10,000 deliveries/s), for ${plan.s4DurationMs / 1000} s, first on one
  instance, then on two through Redis (subscribers and senders split between them); for the app, a third time on two
  instances through a Redis Cluster of 3 masters and 3 replicas started for it on this machine (sharded pub/sub).
- S5 runs ${plan.s5Concurrency} closed loops for ${plan.s5DurationMs / 1000} s each way; the raw INSERT goes into a table like \`messages\`
  (same columns, unique keys and index, no foreign keys) through a pg Pool of ${plan.s5Concurrency}. The HTTP side uses one
  keep-alive connection per loop with a minimal client (one write per request, the response read by its
  Content-Length), so that the generator costs about what the pg client costs the raw side; Node's http client
  cost three times as much CPU per request, taken from the same two cores as the server. The same loops run a third
  time through one batching writer (every row waiting goes into one multi-row INSERT once the previous one is
  done): the ceiling a group commit can approach. Both ratios are reported; the target is stated against the
  single-row INSERTs.
- S6 counts joins and leaves together: at R changes/s, R/2 subscriptions start per second and each completes after
  ${plan.s6HoldMs} ms; every joiner also receives the room's DIFFs (selection \`{ kind selfRef }\`). One watcher per instance
  (\`track: false\`) applies STATE and DIFFs; a change's latency is from its subscribe or complete to the moment the
  last watcher saw it.
- P7 starts \`scripts/cluster.mjs\` with two instances behind nginx; ${plan.p7Rooms * plan.p7PerRoom} clients (${plan.p7Rooms} rooms × ${plan.p7PerRoom}) hold
  \`messageAdded(chatId, afterSeq)\` through nginx, each room sends ${plan.p7MessagesPerSecondPerRoom} messages/s over HTTP, and ${plan.p7BeforeKillMs / 1000} s in
  the instance \`local-1\` gets SIGKILL. Clients reconnect 100-500 ms after their socket closes and resume after
  the last seq they saw. A client is whole at its first delivery after the kill once it holds every message
  committed before the kill (and, if the kill closed its socket, it has been accepted again); the figure is the
  last client's. Sending goes on for ${plan.p7AfterKillMs / 1000} s after the kill; then every client must hold every message committed
  (each room's \`lastSeq\`), with no seq skipped or repeated.
- The app runs with \`NODE_ENV=production\`, \`LOG_LEVEL=warn\`, cheap password hashing (sign-up is setup) and the
  per-user rate limits raised; every other limit is as shipped.
`;
  const json = {
    command,
    started: new Date(started).toISOString(),
    durationS,
    machine: host,
    plan,
    options,
    runs,
    checks,
  };
  const jsonPath = join(outDir, `${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  const markdownPath =
    options.out !== undefined
      ? join(outDir, 'RESULTS.md')
      : !options.quick && !options.s2Rate && complete
        ? join(ROOT, 'bench', 'RESULTS.md')
        : join(outDir, `${stamp}.md`);
  writeFileSync(markdownPath, markdown);

  process.stdout.write(`${tables}\n\n${checks.length ? `${targetsTable(checks)}\n\n` : ''}`);
  if (options.profile && existsSync(profileDir)) {
    const summary = summarizeProfiles(profileDir);
    writeFileSync(join(profileDir, 'summary.txt'), summary);
    process.stdout.write(`CPU profile of the app (${profileDir}):\n${summary}\n`);
  }
  process.stdout.write(`Results: ${jsonPath} and ${markdownPath}; took ${(durationS / 60).toFixed(1)} min.\n`);
  const lost = !nothingLost(runs);
  if (failures) process.stderr.write(`bench: ${failures} scenario run(s) failed\n`);
  // A loss in S2's overload step is what overload looks like; in a quick run nothing may be lost at all.
  if (lost) process.stderr.write('bench: some deliveries were lost (see the received/expected columns)\n');
  process.exit(failures || (options.quick && lost) ? 1 : 0);
}

main().catch((error: unknown) => {
  killAll();
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
