import { randomBytes } from 'node:crypto';
import { linkSync, rmSync, writeFileSync } from 'node:fs';

/** link() errors of a file system without hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV']);

/**
 * Creates `file` holding `content`, unless it exists; returns whether this call created it. The content is written
 * aside and linked into place, so a process that races this one either finds no file or finds it whole, never
 * empty or half written (which `writeFileSync(file, content, { flag: 'wx' })` alone would let it see). Where the
 * file system has no hard links, it is that exclusive write.
 */
export function createExclusive(file: string, content: string, mode = 0o600): boolean {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(aside, content, { mode, flag: 'wx' });
    linkSync(aside, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
    return writeExclusive(file, content, mode);
  } finally {
    rmSync(aside, { force: true });
  }
}

function writeExclusive(file: string, content: string, mode: number): boolean {
  try {
    writeFileSync(file, content, { mode, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}
