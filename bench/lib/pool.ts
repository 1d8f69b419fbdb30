/**
 * The load generator's worker processes and the calls the orchestrator makes to them. Sockets are spread over
 * the workers (one process holds at most ~19,900 here), and each worker reports its own counts and histograms.
 */
import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { ClientSpec, ProtocolConfig, TagStats, WorkerRequest, WorkerResponse, WorkerStatus } from './protocol';

const WORKER = join(__dirname, 'worker.js');
type Call = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void }>();
  private readonly child: ChildProcess;

  constructor(onProgress: (line: string) => void) {
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message: WorkerResponse) => {
      if ('progress' in message) return onProgress(message.progress);
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
    this.child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`load-generator worker exited (${signal ?? code})`));
      }
      this.pending.clear();
    });
  }

  call<T>(request: Call): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ ...request, id });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

export class WorkerPool {
  private readonly workers: WorkerHandle[];
  private progressTimer?: NodeJS.Timeout;

  constructor(count: number) {
    this.workers = Array.from({ length: count }, () => new WorkerHandle((line) => progressLine(line)));
  }

  get size(): number {
    return this.workers.length;
  }

  /** The workers' process ids, to count the CPU the load generator itself uses. */
  get pids(): number[] {
    return this.workers.map((w) => w.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Deals clients out round-robin, so a big room's subscribers are spread over every worker. */
  async open(protocol: ProtocolConfig, clients: ClientSpec[]): Promise<WorkerStatus> {
    const shares = this.workers.map(() => [] as ClientSpec[]);
    clients.forEach((client, i) => shares[i % shares.length].push(client));
    const opening = Promise.all(
      this.workers.map((w, i) => w.call({ method: 'open', params: { protocol, clients: shares[i] } })),
    );
    this.watch(async () => {
      const s = await this.status();
      return `opening ${s.open}/${clients.length} sockets, ${s.failed} failed`;
    });
    try {
      await opening;
    } finally {
      this.unwatch();
    }
    return this.status();
  }

  async status(): Promise<WorkerStatus> {
    const all = await Promise.all(this.workers.map((w) => w.call<WorkerStatus>({ method: 'status' })));
    return all.reduce((sum, s) => ({
      open: sum.open + s.open,
      failed: sum.failed + s.failed,
      closed: sum.closed + s.closed,
      probed: sum.probed + s.probed,
      received: sum.received + s.received,
      inboxEvents: sum.inboxEvents + s.inboxEvents,
      sent: sum.sent + s.sent,
      errors: [...sum.errors, ...s.errors].slice(0, 20),
    }));
  }

  /**
   * Waits until every subscriber is live: graphql-ws and the baselines do not acknowledge a subscription, so
   * each room's sender sends probes until every subscriber has received one.
   */
  async probeUntilLive(subscribers: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await Promise.all(this.workers.map((w) => w.call({ method: 'probe' })));
      const roundEnd = Math.min(deadline, Date.now() + 2_000);
      let status = await this.status();
      while (status.probed < subscribers && Date.now() < roundEnd) {
        await sleep(100);
        status = await this.status();
      }
      progressLine(`waiting for subscriptions: ${status.probed}/${subscribers} live`);
      if (status.probed >= subscribers) return;
      if (Date.now() >= deadline) {
        throw new Error(`only ${status.probed}/${subscribers} subscriptions went live: ${status.errors.join('; ')}`);
      }
    }
  }

  /** Every sender sends `perSenderRate` messages per second for `durationMs`, tagged `tag`. */
  async load(tag: number, perSenderRate: number, durationMs: number, label: string): Promise<number> {
    const loading = Promise.all(
      this.workers.map((w) => w.call<{ sent: number }>({ method: 'load', params: { tag, perSenderRate, durationMs } })),
    );
    const started = Date.now();
    this.watch(async () => {
      const s = await this.status();
      return `${label}: ${((Date.now() - started) / 1000).toFixed(0)}/${durationMs / 1000} s, sent ${s.sent}, received ${s.received}, ${s.open - s.closed} sockets`;
    });
    try {
      return (await loading).reduce((sum, r) => sum + r.sent, 0);
    } finally {
      this.unwatch();
    }
  }

  /** Waits until every message tagged `tags` has arrived, or `graceMs` has passed; then returns the counts. */
  async drain(tags: number[], graceMs: number): Promise<Record<number, TagStats[]>> {
    const deadline = Date.now() + graceMs;
    for (;;) {
      const stats = await this.stats(tags);
      const complete = tags.every((tag) => {
        const parts = stats[tag];
        return sum(parts, 'received') >= sum(parts, 'expected');
      });
      if (complete || Date.now() >= deadline) return stats;
      await sleep(100);
    }
  }

  async stats(tags: number[]): Promise<Record<number, TagStats[]>> {
    const all = await Promise.all(
      this.workers.map((w) => w.call<Record<number, TagStats>>({ method: 'stats', params: { tags } })),
    );
    return Object.fromEntries(tags.map((tag) => [tag, all.map((s) => s[tag])]));
  }

  /** Runs a call on the first worker alone (S5, S6). */
  one<T>(request: Call): Promise<T> {
    return this.workers[0].call<T>(request);
  }

  async stop(): Promise<void> {
    this.unwatch();
    await Promise.all(this.workers.map((w) => w.call({ method: 'close' }).catch(() => undefined)));
    await Promise.all(this.workers.map((w) => w.stop()));
    progressLine('');
  }

  private watch(line: () => Promise<string>): void {
    this.progressTimer = setInterval(() => {
      line().then(progressLine, () => undefined);
    }, 1000);
  }

  private unwatch(): void {
    clearInterval(this.progressTimer);
  }
}

export function sum<T>(parts: T[], key: { [K in keyof T]: T[K] extends number ? K : never }[keyof T]): number {
  return parts.reduce((total, part) => total + (part[key] as number), 0);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let progressPrefix = '';
/** Everything the scenario is doing, on one updating line of stderr (plain lines when stderr is not a TTY). */
export function setProgressPrefix(prefix: string): void {
  progressPrefix = prefix;
}
/** A line that stays: clears the progress line first. */
export function logLine(text: string): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  process.stderr.write(`${progressPrefix} ${text}\n`);
}

let lastPlainLine = 0;
export function progressLine(text: string): void {
  if (!process.stderr.isTTY) {
    // A log file gets a line every few seconds, not one per update.
    if (text && Date.now() - lastPlainLine >= 5000) {
      lastPlainLine = Date.now();
      process.stderr.write(`${progressPrefix} ${text}\n`);
    }
    return;
  }
  const line = text ? `${progressPrefix} ${text}` : '';
  process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
}
