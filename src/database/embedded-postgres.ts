import { Injectable, Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import {
  setprivPrefix,
  binariesFor,
  initDirectory,
  inUseError,
  postgresBinaries,
  postgresUser,
  readPostmasterLock,
  RunAs,
  SOCKET_DIR_PREFIX,
  stopLeftoverPostmaster,
} from './embedded-postgres-host';

export interface PgConnectionTarget {
  host: string;
  port: number;
  user: string;
  database: string;
}

/** Connections the app's pool may open; the server allows these, the LISTEN connection and one spare. */
export const EMBEDDED_POOL_SIZE = 8;

/** Only names the socket file: with listen_addresses='' the server opens no TCP port, so nothing can collide. */
const SOCKET_PORT = 5432;
/** sun_path is 108 bytes on Linux and 104 on macOS, terminating zero included. */
const MAX_SOCKET_PATH_BYTES = 100;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
/** Where the PGlite engine of earlier versions kept its data; never read nor removed by this one. */
const PGLITE_DIR = 'pgdata';

/**
 * The embedded default: a real PostgreSQL (the same engine as production, from the npm package of its binaries)
 * with its data under DATA_DIR/postgres, started and stopped with the app. It listens only on a Unix socket in a
 * private directory (0700, so only the server's user and root reach it, which is why local connections are
 * trusted) and is tuned small, for one app on one machine.
 */
@Injectable()
export class EmbeddedPostgres {
  private readonly logger = new Logger(EmbeddedPostgres.name);
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private socketDir?: string;
  private target?: PgConnectionTarget;
  /** Last resort for an exit that skips the shutdown hooks (a failed start, process.exit). */
  private readonly stopOnExit = () => this.child?.kill('SIGINT');

  constructor(private readonly config: AppConfig) {}

  get pgDataDir(): string {
    return join(this.config.dataDir, 'postgres');
  }

  /** Where the pool and the LISTEN connection connect; set once started. */
  get connection(): PgConnectionTarget {
    if (!this.target) throw new Error('the embedded PostgreSQL is not started');
    return this.target;
  }

  async start(): Promise<PgConnectionTarget> {
    const pgDataDir = this.pgDataDir;
    mkdirSync(this.config.dataDir, { recursive: true });
    this.noteOldPgliteData();
    await stopLeftoverPostmaster(pgDataDir, (line) => this.logger.warn(line));
    const runAs = postgresUser(pgDataDir, (name) =>
      this.logger.warn(`created the system user "${name}" to run the embedded PostgreSQL (it does not run as root)`),
    );
    const binaries = binariesFor(postgresBinaries(), runAs);
    if (!existsSync(join(pgDataDir, 'PG_VERSION'))) await this.initialise(binaries.initdb, pgDataDir, runAs);

    this.socketDir = this.socketDirFor(pgDataDir, runAs);
    const args = ['-D', pgDataDir, '-k', this.socketDir, '-p', String(SOCKET_PORT), ...serverSettings()];
    const child = this.spawn(binaries.postgres, args, runAs, true);
    this.child = child;
    const end = ended(child);
    this.exited = end.then(() => undefined);
    process.once('exit', this.stopOnExit);
    try {
      await this.whenReady(child, end, pgDataDir, runAs);
    } catch (error) {
      await this.stop();
      // Started at once with another app on this DATA_DIR, whose server took the data directory first.
      throw inUseError(pgDataDir) ?? error;
    }
    this.logger.log(`embedded PostgreSQL (pid ${child.pid}) at ${pgDataDir}`);
    this.target = { host: this.socketDir, port: SOCKET_PORT, user: 'postgres', database: 'postgres' };
    // Only stop() clears the target first: an exit while it is set is the server going away under the app.
    void end.then((how) => {
      if (this.child === child && this.target) this.logger.error(`the embedded PostgreSQL stopped (${how})`);
    });
    return this.target;
  }

  /** Fast shutdown (open transactions are rolled back, a checkpoint is written), then immediate if it hangs. */
  async stop(): Promise<void> {
    const child = this.child;
    this.target = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timeout = new Promise<'timeout'>((done) => setTimeout(() => done('timeout'), STOP_TIMEOUT_MS).unref());
      if ((await Promise.race([this.exited, timeout])) === 'timeout') {
        this.logger.warn(`the embedded PostgreSQL did not stop within ${STOP_TIMEOUT_MS} ms: stopping it at once`);
        child.kill('SIGQUIT');
        await this.exited;
      }
    }
    process.removeListener('exit', this.stopOnExit);
    this.child = undefined;
    if (this.socketDir && this.socketDir !== this.pgDataDir) rmSync(this.socketDir, { recursive: true, force: true });
    this.socketDir = undefined;
  }

  /**
   * The socket goes in the data directory (0700: only the server's user, and root, reach it), where nothing is
   * left behind when the app is killed. Socket paths are limited to about 100 bytes: for a long DATA_DIR, a
   * private directory under the system's temporary directory instead.
   */
  private socketDirFor(pgDataDir: string, runAs: RunAs | undefined): string {
    if (Buffer.byteLength(join(pgDataDir, `.s.PGSQL.${SOCKET_PORT}.lock`)) <= MAX_SOCKET_PATH_BYTES) return pgDataDir;
    const dir = mkdtempSync(join(tmpdir(), SOCKET_DIR_PREFIX));
    if (runAs) chownSync(dir, runAs.uid, runAs.gid);
    return dir;
  }

  /**
   * A new cluster goes into a sibling directory renamed into place once complete, so a start interrupted here
   * leaves no half-made data directory that the next start would take for a real one; of apps started at once,
   * the first to finish puts its cluster in place and the others use it.
   */
  private async initialise(initdb: string, pgDataDir: string, runAs: RunAs | undefined): Promise<void> {
    const partial = initDirectory(pgDataDir);
    mkdirSync(partial, { mode: 0o700 });
    if (runAs) chownSync(partial, runAs.uid, runAs.gid);
    this.logger.log(`creating the embedded PostgreSQL data directory ${pgDataDir}`);
    // C collation and UTF-8 behave the same on every platform; the schema relies on no locale-specific order.
    const args = [
      '-D',
      partial,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ];
    const child = this.spawn(initdb, args, runAs);
    const output = collect(child);
    const how = await ended(child);
    if (how !== 'exit code 0') {
      throw new Error(`initdb failed (${how}):\n${withHint(how, output.text(), runAs, pgDataDir)}`);
    }
    try {
      renameSync(partial, pgDataDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(join(pgDataDir, 'PG_VERSION'))) throw error;
      rmSync(partial, { recursive: true, force: true });
    }
  }

  /** Runs a PostgreSQL program as `runAs` (see setprivPrefix), and with the parent death signal when asked. */
  private spawn(command: string, args: string[], runAs: RunAs | undefined, parentDeath = false): ChildProcess {
    const prefix = setprivPrefix(runAs, parentDeath);
    const [file, ...rest] = prefix ? [...prefix, command, ...args] : [command, ...args];
    return spawn(file, rest, {
      // Nothing of the app's environment (secrets among it) is passed on; C keeps the server's messages English.
      env: { LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(runAs && !prefix ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
  }

  /** Ready once postmaster.pid names this child and says "ready", which PostgreSQL writes when it accepts connections. */
  private async whenReady(
    child: ChildProcess,
    end: Promise<string>,
    pgDataDir: string,
    runAs: RunAs | undefined,
  ): Promise<void> {
    const output = collect(child, (line) => this.log(line));
    let how: string | undefined;
    void end.then((ended) => (how = ended));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (how !== undefined) {
        throw new Error(
          `the embedded PostgreSQL stopped before it was ready (${how}):\n${withHint(how, output.text(), runAs, pgDataDir)}`,
        );
      }
      const lock = readPostmasterLock(pgDataDir);
      if (lock && lock.pid === child.pid && lock.ready) return;
      if (Date.now() > deadline) {
        throw new Error(`the embedded PostgreSQL was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${output.text()}`);
      }
      await new Promise((done) => setTimeout(done, 20));
    }
  }

  /**
   * The server's own log: its problems at warn, its narration (start, checkpoints, shutdown) at debug. A query's
   * ERROR is the app's to report (it maps every one it expects, a taken email say, to an API error): at debug.
   */
  private log(line: string): void {
    if (/\b(WARNING|FATAL|PANIC):/.test(line)) this.logger.warn(`postgres: ${line}`);
    else this.logger.debug(`postgres: ${line}`);
  }

  private noteOldPgliteData(): void {
    const old = join(this.config.dataDir, PGLITE_DIR);
    if (existsSync(old)) {
      this.logger.warn(
        `${old} holds data of the earlier embedded engine (PGlite), which this version does not read; ` +
          `it is left as it was, and the embedded PostgreSQL keeps its data in ${this.pgDataDir}`,
      );
    }
  }
}

/**
 * Small: one app on one machine. The pool's connections plus the LISTEN connection and one spare; nothing
 * replicates from it, so no replication launcher process.
 */
function serverSettings(): string[] {
  const settings: Record<string, string | number> = {
    listen_addresses: '',
    unix_socket_permissions: '0700',
    max_connections: EMBEDDED_POOL_SIZE + 2,
    shared_buffers: '16MB',
    max_logical_replication_workers: 0,
    // A failed query's statement and DETAIL carry what a client sent (a taken email is in the unique violation's
    // DETAIL): the server's log, which the app passes on, keeps neither.
    log_error_verbosity: 'terse',
    log_min_error_statement: 'panic',
  };
  return Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

/** Resolves once the child has ended, saying how: its exit code or signal, or why it could not be run at all. */
function ended(child: ChildProcess): Promise<string> {
  return new Promise((done) => {
    child.once('error', (error) => done(`could not be run: ${error.message}`));
    child.once('exit', (code, signal) => done(code !== null ? `exit code ${code}` : `signal ${signal}`));
  });
}

/** Keeps the last lines a child wrote (for an error message), passing each on when asked. */
function collect(child: ChildProcess, onLine?: (line: string) => void): { text(): string } {
  const lines: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > 40) lines.shift();
      onLine?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return { text: () => [...lines, partial].filter(Boolean).join('\n') };
}

/** PostgreSQL refuses root, so under root it runs as another user, who may not be let into a directory root made. */
function withHint(how: string, output: string, runAs: RunAs | undefined, pgDataDir: string): string {
  if (!runAs || !/permission denied|EACCES/i.test(`${how}\n${output}`)) return output;
  return (
    `${output}\n(PostgreSQL runs as ${runAs.name}, who needs search permission on every directory above ` +
    `${pgDataDir} and above the app's node_modules)`
  );
}
