/**
 * Turns the runs into tables (medians over runs), ratios against each baseline computed within each run, and
 * the targets with pass/fail and the margin.
 */
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import {
  Counts,
  CpuPerDelivery,
  P99_LIMIT_MS,
  S1Result,
  S2Result,
  S3Result,
  S4Result,
  S5Result,
  S6Result,
  P7Result,
  SCENARIOS,
  SCENARIO_TARGETS,
  ScenarioName,
  ScenarioResult,
} from './scenarios';
import { BASELINE_LABELS, TargetName } from './targets';

export type Outcome = ScenarioResult | { failed: string };
/** runs[r][scenario][target] */
export type Runs = Partial<Record<ScenarioName, Partial<Record<TargetName, Outcome>>>>[];

export interface TargetCheck {
  target: string;
  measured: string;
  pass: boolean;
  margin: string;
}

const ok = <T>(outcome: Outcome | undefined): T | undefined =>
  outcome && !('failed' in outcome) ? (outcome as unknown as T) : undefined;

export function median(values: (number | undefined)[]): number {
  const sorted = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmt = (value: number, digits = 1) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : 'n/a';

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** The value across runs, for one scenario and target. */
function across<T>(runs: Runs, scenario: ScenarioName, target: TargetName, pick: (r: T) => number | undefined): number {
  return median(perRunOf(runs, scenario, target, pick));
}

/** The value in each run, for one scenario and target (undefined where a run has none). */
function perRunOf<T>(
  runs: Runs,
  scenario: ScenarioName,
  target: TargetName,
  pick: (r: T) => number | undefined,
): (number | undefined)[] {
  return runs.map((run) => (ok<T>(run[scenario]?.[target]) ? pick(ok<T>(run[scenario]?.[target])!) : undefined));
}

/** The median across runs and, with more than one run, the spread: "median (min–max)". */
function spread<T>(
  runs: Runs,
  scenario: ScenarioName,
  target: TargetName,
  pick: (r: T) => number | undefined,
  digits = 1,
): string {
  const values = perRunOf(runs, scenario, target, pick).filter(
    (v): v is number => v !== undefined && Number.isFinite(v),
  );
  const middle = fmt(median(values), digits);
  if (values.length < 2) return middle;
  return `${middle} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

function countsCell(runs: Runs, scenario: ScenarioName, target: TargetName): string {
  const all = runs.map((run) => run[scenario]?.[target]).filter(Boolean) as Outcome[];
  const failed = all.find((o): o is { failed: string } => 'failed' in o);
  if (failed) return `failed: ${failed.failed.split('\n')[0].slice(0, 120)}`;
  const counts = all.map((o) => (o as ScenarioResult).counts);
  const received = counts.reduce((s, c) => s + c.received, 0);
  const expected = counts.reduce((s, c) => s + c.expected, 0);
  return `${fmt(received, 0)}/${fmt(expected, 0)}${received === expected ? '' : ' LOST'}`;
}

const targetsOf = (runs: Runs, scenario: ScenarioName) =>
  SCENARIO_TARGETS[scenario].filter((t) => runs.some((run) => run[scenario]?.[t]));

const nameOf = (target: TargetName) => (target === 'app' ? 'our app' : BASELINE_LABELS[target]);

export function scenarioTables(runs: Runs): string {
  const parts: string[] = [];
  const has = (s: ScenarioName) => runs.some((run) => run[s]);
  if (has('S1')) {
    parts.push(
      '### S1: idle subscribed connections and server RSS',
      table(
        [
          'server',
          'connections held',
          'RSS at the first tenth (MiB)',
          'RSS at all (MiB)',
          'KiB per connection',
          'check messages received/expected',
        ],
        targetsOf(runs, 'S1').map((t) => [
          nameOf(t),
          fmt(
            across<S1Result>(runs, 'S1', t, (r) => r.connections),
            0,
          ),
          fmt(across<S1Result>(runs, 'S1', t, (r) => r.rssBeforeMiB)),
          fmt(across<S1Result>(runs, 'S1', t, (r) => r.rssAfterMiB)),
          spread<S1Result>(runs, 'S1', t, (r) => r.kibPerConnection, 2),
          countsCell(runs, 'S1', t),
        ]),
      ),
    );
  }
  if (has('S2')) {
    parts.push(
      `### S2: fan-out ceiling, 200 rooms × 50 subscribers (highest deliveries/s with p99 ≤ ${P99_LIMIT_MS} ms, nothing lost)`,
      table(
        [
          'server',
          'deliveries/s',
          'p50 (ms)',
          'p99 (ms)',
          'per run',
          'first failing step (last run)',
          'received/expected (every step, once deliveries stopped)',
        ],
        targetsOf(runs, 'S2').map((t) => {
          const perRun = s2Rates(runs, t);
          const last = [...runs]
            .reverse()
            .map((run) => ok<S2Result>(run.S2?.[t]))
            .find(Boolean);
          const failing = last?.steps.find((s) => !s.pass);
          return [
            nameOf(t),
            fmt(median(perRun), 0),
            fmt(across<S2Result>(runs, 'S2', t, (r) => r.best?.p50)),
            fmt(across<S2Result>(runs, 'S2', t, (r) => r.best?.p99)),
            perRun.map((v) => fmt(v, 0)).join(', '),
            failing ? `${fmt(failing.deliveriesPerSec, 0)}/s: ${failing.why}` : 'none',
            countsCell(runs, 'S2', t),
          ];
        }),
      ),
    );
  }
  const variants: [ScenarioName, string][] = [
    ['S2i', 'the S2 layout, every subscriber also holding its chat list (`inbox`)'],
    ['S2m', 'the S2 layout, subscribers spread over three different selections'],
  ];
  for (const [variant, title] of variants) {
    if (!has(variant)) continue;
    parts.push(
      `### ${variant}: ${title}`,
      table(
        [
          'server',
          'deliveries/s',
          'p50 (ms)',
          'p99 (ms)',
          'per run',
          'S2 of the same run',
          ...(variant === 'S2i' ? ['inbox events'] : []),
          'received/expected',
        ],
        targetsOf(runs, variant).map((t) => {
          const perRun = runs.map((run) => ok<S2Result>(run[variant]?.[t])?.best?.deliveriesPerSec ?? 0);
          return [
            nameOf(t),
            fmt(median(perRun), 0),
            fmt(across<S2Result>(runs, variant, t, (r) => r.best?.p50)),
            fmt(across<S2Result>(runs, variant, t, (r) => r.best?.p99)),
            perRun.map((v) => fmt(v, 0)).join(', '),
            s2Rates(runs, t)
              .map((v) => fmt(v, 0))
              .join(', '),
            ...(variant === 'S2i'
              ? [
                  fmt(
                    across<S2Result>(runs, variant, t, (r) => r.inboxEvents),
                    0,
                  ),
                ]
              : []),
            countsCell(runs, variant, t),
          ];
        }),
      ),
    );
  }
  if (has('S2')) {
    // The ceiling step when there is one; with --s2-rate and a failed step, the step that was held.
    const cpuOf = (r: S2Result) => r.best?.cpu ?? r.steps[r.steps.length - 1]?.cpu;
    const cpuAcross = (t: TargetName, pick: (cpu: CpuPerDelivery) => number) =>
      across<S2Result>(runs, 'S2', t, (r) => {
        const cpu = cpuOf(r);
        return cpu && pick(cpu);
      });
    const cell = (t: TargetName, pick: (cpu: CpuPerDelivery) => number) => fmt(cpuAcross(t, pick));
    const processUs = (c: CpuPerDelivery) => c.serverUserUs + c.serverSysUs;
    parts.push(
      'CPU per delivery at that step (µs, medians of runs). What a server can reach is bounded by its own ' +
        'process, one core at most, and by the two cores all of these share:',
      table(
        [
          'server',
          'server: own code',
          'server: kernel (socket writes)',
          'PostgreSQL',
          'load generator',
          'all',
          'one core allows the server (deliveries/s)',
        ],
        targetsOf(runs, 'S2').map((t) => [
          nameOf(t),
          cell(t, (c) => c.serverUserUs),
          cell(t, (c) => c.serverSysUs),
          cell(t, (c) => c.postgresUs),
          cell(t, (c) => c.loadGeneratorUs),
          cell(t, (c) => c.serverUserUs + c.serverSysUs + c.postgresUs + c.loadGeneratorUs),
          fmt(
            cpuAcross(t, (c) => 1e6 / processUs(c)),
            0,
          ),
        ]),
      ),
    );
    // What each ratio target asks of our app's process, against what its own process spent at its ceiling: a
    // target whose budget is below the app's kernel time alone cannot be met by trimming the app's code.
    const s2Targets = targetsOf(runs, 'S2');
    const budgets = S2_TARGETS.filter(([baseline]) => s2Targets.includes(baseline)).map(([baseline, factor]) => {
      // Against the baseline's figure in the table above.
      const needed = factor * median(s2Rates(runs, baseline));
      return `${factor}× ${BASELINE_LABELS[baseline]} is ${fmt(needed, 0)} deliveries/s, at most ${fmt(1e6 / needed)} µs`;
    });
    if (s2Targets.includes('app') && budgets.length) {
      parts.push(
        `What the S2 targets ask of our app's one process, with the whole of a core and nothing else on it: ` +
          `${budgets.join('; ')} per delivery. At its ceiling it spent ${cell('app', processUs)} µs ` +
          `(own code ${cell('app', (c) => c.serverUserUs)}, kernel ${cell('app', (c) => c.serverSysUs)}).`,
      );
    }
  }
  if (has('S3')) {
    parts.push(
      '### S3: one room of 2,000 subscribers, send → last delivery per message',
      table(
        [
          'server',
          'last delivery p50 (ms)',
          'p99 (ms)',
          'max (ms)',
          'every delivery p50 (ms)',
          'p99 (ms)',
          'received/expected',
        ],
        targetsOf(runs, 'S3').map((t) => [
          nameOf(t),
          fmt(across<S3Result>(runs, 'S3', t, (r) => r.lastDelivery.p50)),
          spread<S3Result>(runs, 'S3', t, (r) => r.lastDelivery.p99),
          fmt(across<S3Result>(runs, 'S3', t, (r) => r.lastDelivery.max)),
          fmt(across<S3Result>(runs, 'S3', t, (r) => r.allDeliveries.p50)),
          fmt(across<S3Result>(runs, 'S3', t, (r) => r.allDeliveries.p99)),
          countsCell(runs, 'S3', t),
        ]),
      ),
    );
  }
  if (has('S4')) {
    parts.push(
      '### S4: the S2 layout at a fixed rate, one instance vs two through Redis',
      table(
        [
          'server',
          'deliveries/s',
          'one: p50 (ms)',
          'one: p99 (ms)',
          'two: p50 (ms)',
          'two: p99 (ms)',
          'p50 two − one (ms)',
          'Redis commands per message (two)',
          'received/expected',
        ],
        targetsOf(runs, 'S4').map((t) => [
          nameOf(t),
          fmt(
            across<S4Result>(runs, 'S4', t, (r) => r.deliveriesPerSec),
            0,
          ),
          fmt(across<S4Result>(runs, 'S4', t, (r) => r.one.p50)),
          fmt(across<S4Result>(runs, 'S4', t, (r) => r.one.p99)),
          fmt(across<S4Result>(runs, 'S4', t, (r) => r.two.p50)),
          fmt(across<S4Result>(runs, 'S4', t, (r) => r.two.p99)),
          spread<S4Result>(runs, 'S4', t, (r) => r.p50DeltaMs, 2),
          fmt(
            across<S4Result>(runs, 'S4', t, (r) => r.redisCommandsPerMessage),
            2,
          ),
          countsCell(runs, 'S4', t),
        ]),
      ),
    );
    if (Number.isFinite(across<S4Result>(runs, 'S4', 'app', (r) => r.cluster?.p50))) {
      parts.push(
        '#### S4 on Redis Cluster: the app, two instances on one Redis vs on a Redis Cluster (3 masters, 3 replicas)',
        table(
          ['', 'p50 (ms)', 'p99 (ms)'],
          [
            [
              'two instances, one Redis',
              fmt(across<S4Result>(runs, 'S4', 'app', (r) => r.two.p50)),
              fmt(across<S4Result>(runs, 'S4', 'app', (r) => r.two.p99)),
            ],
            [
              'two instances, Redis Cluster',
              fmt(across<S4Result>(runs, 'S4', 'app', (r) => r.cluster?.p50)),
              fmt(across<S4Result>(runs, 'S4', 'app', (r) => r.cluster?.p99)),
            ],
            [
              'p50 cluster − one Redis (ms)',
              fmt(
                across<S4Result>(runs, 'S4', 'app', (r) => r.clusterP50DeltaMs),
                2,
              ),
              '',
            ],
          ],
        ),
      );
    }
  }
  if (has('S5')) {
    parts.push(
      '### S5: sendMessage over HTTP vs raw INSERTs (single-row, and batched as a group commit), same concurrency',
      table(
        ['', 'ops/s', 'p50 (ms)', 'p99 (ms)'],
        [
          [
            'our app: sendMessage (HTTP)',
            spread<S5Result>(runs, 'S5', 'app', (r) => r.appOpsPerSec, 0),
            fmt(across<S5Result>(runs, 'S5', 'app', (r) => r.app.p50)),
            fmt(across<S5Result>(runs, 'S5', 'app', (r) => r.app.p99)),
          ],
          [
            'PostgreSQL: raw INSERT (pg Pool)',
            spread<S5Result>(runs, 'S5', 'app', (r) => r.rawOpsPerSec, 0),
            fmt(across<S5Result>(runs, 'S5', 'app', (r) => r.raw.p50)),
            fmt(across<S5Result>(runs, 'S5', 'app', (r) => r.raw.p99)),
          ],
          [
            'PostgreSQL: raw INSERT, batched (one multi-row statement in flight)',
            spread<S5Result>(runs, 'S5', 'app', (r) => r.rawBatchedOpsPerSec, 0),
            fmt(across<S5Result>(runs, 'S5', 'app', (r) => r.rawBatched?.p50)),
            fmt(across<S5Result>(runs, 'S5', 'app', (r) => r.rawBatched?.p99)),
          ],
        ],
      ),
      `\nRatio app / raw single-row (median of per-run ratios): ${spread<S5Result>(
        runs,
        'S5',
        'app',
        (r) => r.ratio,
        3,
      )}; app / raw batched: ${spread<S5Result>(
        runs,
        'S5',
        'app',
        (r) => r.ratioBatched,
        3,
      )}; operations ok/attempted: ${countsCell(runs, 'S5', 'app')}`,
    );
  }
  if (has('S6')) {
    const rates = [...new Set(runs.flatMap((run) => ok<S6Result>(run.S6?.app)?.steps.map((s) => s.rate) ?? []))];
    const at = (rate: number, pick: (s: S6Result['steps'][number]) => number) =>
      across<S6Result>(runs, 'S6', 'app', (r) => {
        const step = r.steps.find((s) => s.rate === rate);
        return step ? pick(step) : undefined;
      });
    parts.push(
      '### S6: presence churn on two instances, time until every instance has seen each join/leave',
      table(
        [
          'joins+leaves/s',
          'changes',
          'converged on every instance',
          'p50 (ms)',
          'p99 (ms)',
          'max (ms)',
          'replicas agree after',
        ],
        rates.map((rate) => [
          fmt(rate, 0),
          fmt(
            at(rate, (s) => s.changes),
            0,
          ),
          fmt(
            at(rate, (s) => s.converged),
            0,
          ),
          fmt(at(rate, (s) => s.p50)),
          fmt(at(rate, (s) => s.p99)),
          fmt(at(rate, (s) => s.max)),
          runs.every((run) => ok<S6Result>(run.S6?.app)?.steps.find((s) => s.rate === rate)?.replicasAgree)
            ? 'yes'
            : 'NO',
        ]),
      ),
      `Redis commands per presence change (join or leave, scripts and reads included): ${fmt(
        across<S6Result>(runs, 'S6', 'app', (r) => r.redisCommandsPerChange),
        2,
      )}.`,
    );
  }
  if (has('P7')) {
    const value = (pick: (r: P7Result) => number, digits = 0) => spread<P7Result>(runs, 'P7', 'app', pick, digits);
    parts.push(
      '### P7: subscribed clients on two instances behind nginx, one instance killed with SIGKILL',
      table(
        ['', 'per run: median (min–max)'],
        [
          ['clients', value((r) => r.clients)],
          ['sockets the kill closed', value((r) => r.dropped)],
          ['last of them accepted again (ms after the kill)', value((r) => r.lastReconnectedMs)],
          ['last client whole (ms after the kill)', value((r) => r.lastWholeMs)],
          ['clients never whole', value((r) => r.notWhole)],
          ['messages committed', value((r) => r.messages)],
          ['clients missing a message at the end', value((r) => r.incomplete)],
          ['deliveries out of order (a seq skipped)', value((r) => r.gaps)],
          ['deliveries repeated', value((r) => r.duplicates)],
          ['sends that failed (in flight on the killed instance)', value((r) => r.sendFailures)],
        ],
      ),
    );
  }
  return parts.join('\n\n');
}

/** A target's S2 figure in each run (0 where a run found none), whose median the S2 table shows. */
function s2Rates(runs: Runs, target: TargetName): number[] {
  return runs.map((run) => ok<S2Result>(run.S2?.[target])?.best?.deliveriesPerSec ?? 0);
}

/** S2's targets: our app's deliveries/s at least this many times each baseline's. */
const S2_TARGETS = [
  ['ws-relay', 0.75],
  ['graphql-naive', 2],
  ['socketio', 1.1],
  ['mercurius', 1.2],
] as const;

/** S1: our app's resident memory per idle subscribed connection, at most this many times the relay's. */
const S1_FACTOR = 1.2;

/** S2's per-core targets: what one core allows our app (1 / its own CPU per delivery) against a baseline's. */
const S2_PER_CORE_TARGETS = [['socketio', 1.25]] as const;

/** The targets, each as a median over runs (ratios computed within each run). */
export function checkTargets(runs: Runs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const perRun = <T>(scenario: ScenarioName, target: TargetName, pick: (r: T) => number | undefined) =>
    runs.map((run) => {
      const r = ok<T>(run[scenario]?.[target]);
      return r ? pick(r) : undefined;
    });
  const ratio = (a: (number | undefined)[], b: (number | undefined)[]) =>
    median(
      a.map((x, i) => {
        const y = b[i];
        return x !== undefined && y !== undefined && y !== 0 ? x / y : undefined;
      }),
    );
  const has = (scenario: ScenarioName, target: TargetName) => runs.some((run) => run[scenario]?.[target]);

  const s2 = (t: TargetName) => perRun<S2Result>('S2', t, (r) => r.best?.deliveriesPerSec ?? 0);
  for (const [baseline, factor] of S2_TARGETS) {
    if (!has('S2', 'app') || !has('S2', baseline)) continue;
    const r = ratio(s2('app'), s2(baseline));
    checks.push({
      target: `S2 deliveries/s at p99 ≤ ${P99_LIMIT_MS} ms ≥ ${factor}× ${BASELINE_LABELS[baseline]}`,
      measured: `${fmt(r, 2)}×`,
      pass: r >= factor,
      margin: r >= factor ? `+${fmt((r / factor - 1) * 100, 0)}% over` : `${fmt((1 - r / factor) * 100, 0)}% short`,
    });
  }
  const perCore = (t: TargetName) =>
    perRun<S2Result>('S2', t, (r) => {
      const cpu = r.best?.cpu ?? r.steps[r.steps.length - 1]?.cpu;
      return cpu ? 1e6 / (cpu.serverUserUs + cpu.serverSysUs) : undefined;
    });
  for (const [baseline, factor] of S2_PER_CORE_TARGETS) {
    if (!has('S2', 'app') || !has('S2', baseline)) continue;
    const r = ratio(perCore('app'), perCore(baseline));
    checks.push({
      target: `S2 deliveries/s one core allows ≥ ${factor}× ${BASELINE_LABELS[baseline]}'s`,
      measured: `${fmt(r, 2)}×`,
      pass: r >= factor,
      margin: r >= factor ? `+${fmt((r / factor - 1) * 100, 0)}% over` : `${fmt((1 - r / factor) * 100, 0)}% short`,
    });
  }
  if (has('S3', 'app')) {
    const p99 = median(perRun<S3Result>('S3', 'app', (r) => r.lastDelivery.p99));
    checks.push({
      target: 'S3 last-delivery p99 ≤ 150 ms',
      measured: `${fmt(p99)} ms`,
      pass: p99 <= 150,
      margin: p99 <= 150 ? `${fmt(150 - p99)} ms to spare` : `${fmt(p99 - 150)} ms over`,
    });
    if (has('S3', 'ws-relay')) {
      const r = ratio(
        perRun<S3Result>('S3', 'app', (x) => x.lastDelivery.p99),
        perRun<S3Result>('S3', 'ws-relay', (x) => x.lastDelivery.p99),
      );
      checks.push({
        target: 'S3 last-delivery p99 ≤ 1.5× baseline 1',
        measured: `${fmt(r, 2)}×`,
        pass: r <= 1.5,
        margin: r <= 1.5 ? `${fmt((1 - r / 1.5) * 100, 0)}% under` : `${fmt((r / 1.5 - 1) * 100, 0)}% over`,
      });
    }
  }
  if (has('S4', 'app')) {
    const delta = median(perRun<S4Result>('S4', 'app', (r) => r.p50DeltaMs));
    checks.push({
      target: 'S4 p50 on two instances ≤ one instance + 2 ms',
      measured: `${delta >= 0 ? '+' : ''}${fmt(delta, 2)} ms`,
      pass: delta <= 2,
      margin: delta <= 2 ? `${fmt(2 - delta, 2)} ms to spare` : `${fmt(delta - 2, 2)} ms over`,
    });
  }
  if (has('S2i', 'app') && has('S2', 'app')) {
    const r = ratio(
      perRun<S2Result>('S2i', 'app', (x) => x.best?.deliveriesPerSec ?? 0),
      s2('app'),
    );
    checks.push({
      target: 'S2i (S2 with every subscriber also holding `inbox`) ≥ 0.6× S2',
      measured: `${fmt(r, 2)}×`,
      pass: r >= 0.6,
      margin: r >= 0.6 ? `+${fmt((r / 0.6 - 1) * 100, 0)}% over` : `${fmt((1 - r / 0.6) * 100, 0)}% short`,
    });
  }
  if (has('S2m', 'app') && has('S2', 'app')) {
    const r = ratio(
      perRun<S2Result>('S2m', 'app', (x) => x.best?.deliveriesPerSec ?? 0),
      s2('app'),
    );
    checks.push({
      target: 'S2m (S2 with three different selections) ≥ 0.8× S2',
      measured: `${fmt(r, 2)}×`,
      pass: r >= 0.8,
      margin: r >= 0.8 ? `+${fmt((r / 0.8 - 1) * 100, 0)}% over` : `${fmt((1 - r / 0.8) * 100, 0)}% short`,
    });
  }
  if (has('P7', 'app')) {
    const whole = median(perRun<P7Result>('P7', 'app', (r) => r.lastWholeMs));
    const intact = runs.every((run) => {
      const r = ok<P7Result>(run.P7?.app);
      return !r || (r.notWhole === 0 && r.incomplete === 0 && r.duplicates === 0 && r.gaps === 0);
    });
    checks.push({
      target: 'P7 every client of a killed instance resumed and whole within 10 s, nothing lost or repeated',
      measured: `${fmt(whole / 1000, 2)} s${intact ? '' : ', with losses or repeats'}`,
      pass: intact && whole <= 10_000,
      margin:
        whole <= 10_000 ? `${fmt((10_000 - whole) / 1000, 2)} s to spare` : `${fmt((whole - 10_000) / 1000, 2)} s over`,
    });
  }
  if (has('S5', 'app')) {
    const r = median(perRun<S5Result>('S5', 'app', (x) => x.ratio));
    checks.push({
      target: 'S5 sendMessage ops/s ≥ 0.5× raw INSERT',
      measured: `${fmt(r, 3)}×`,
      pass: r >= 0.5,
      margin: r >= 0.5 ? `+${fmt((r / 0.5 - 1) * 100, 0)}% over` : `${fmt((1 - r / 0.5) * 100, 0)}% short`,
    });
  }
  if (has('S1', 'app') && has('S1', 'ws-relay')) {
    const r = ratio(
      perRun<S1Result>('S1', 'app', (x) => x.kibPerConnection),
      perRun<S1Result>('S1', 'ws-relay', (x) => x.kibPerConnection),
    );
    checks.push({
      target: `S1 RSS per idle subscribed connection ≤ ${S1_FACTOR}× baseline 1`,
      measured: `${fmt(r, 2)}×`,
      pass: r <= S1_FACTOR,
      margin:
        r <= S1_FACTOR ? `${fmt((1 - r / S1_FACTOR) * 100, 0)}% under` : `${fmt((r / S1_FACTOR - 1) * 100, 0)}% over`,
    });
  }
  if (runs.some((run) => ok<S6Result>(run.S6?.app)?.steps.some((s) => s.rate === 300))) {
    const step = (r: S6Result) => r.steps.find((s) => s.rate === 300);
    const p99 = median(perRun<S6Result>('S6', 'app', (r) => step(r)?.p99));
    const complete = runs.every((run) => {
      const s = ok<S6Result>(run.S6?.app) && step(ok<S6Result>(run.S6?.app)!);
      return !s || (s.converged === s.changes && s.replicasAgree);
    });
    const pass = p99 <= 200 && complete;
    checks.push({
      target: 'S6 300 joins+leaves/s, every instance converged, p99 ≤ 200 ms',
      measured: `p99 ${fmt(p99)} ms${complete ? '' : ', NOT every change converged'}`,
      pass,
      margin: p99 <= 200 ? `${fmt(200 - p99)} ms to spare` : `${fmt(p99 - 200)} ms over`,
    });
  }
  return checks;
}

export function targetsTable(checks: TargetCheck[]): string {
  return table(
    ['target', 'measured (median of runs)', 'result', 'margin'],
    checks.map((c) => [c.target, c.measured, c.pass ? 'PASS' : 'FAIL', c.margin]),
  );
}

export function machine(since?: CpuTicks): Record<string, string> {
  const cpu = cpus();
  const now = cpuTicks();
  const total = since && now ? now.total - since.total : 0;
  return {
    cpu: `${cpu[0]?.model ?? 'unknown'} (${cpu.length} cores)`,
    ram: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    kernel: `Linux ${release()}`,
    ...(total > 0 && { steal: `${(((now!.steal - since!.steal) / total) * 100).toFixed(1)}%` }),
  };
}

export interface CpuTicks {
  total: number;
  /** Time the hypervisor ran something else while this machine's CPUs wanted to run. */
  steal: number;
}

/** The machine's CPU time so far (all CPUs, clock ticks) from /proc/stat; undefined where there is none. */
export function cpuTicks(): CpuTicks | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is counted in user already
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return undefined;
    return { total: fields.reduce((sum, n) => sum + n, 0), steal: fields[7] };
  } catch {
    return undefined;
  }
}

/** Every delivery that had to arrive did, in every scenario that ran; false also when a scenario failed. */
export function nothingLost(runs: Runs): boolean {
  return runs.every((run) =>
    SCENARIOS.every((s) =>
      Object.values(run[s] ?? {}).every((o) => {
        if (!o || 'failed' in o) return false;
        const c: Counts = o.counts;
        return c.expected > 0 && c.received === c.expected;
      }),
    ),
  );
}
