import { randomBytes } from 'node:crypto';
import { linkSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Creates `file` holding `content`, unless it exists; returns whether this call created it. The content is written
 * aside and linked into place, so a process that races this one either finds no file or finds it whole, never
 * empty or half written (which `writeFileSync(file, content, { flag: 'wx' })` would let it see).
 */
export function createExclusive(file: string, content: string, mode = 0o600): boolean {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(aside, content, { mode, flag: 'wx' });
  try {
    linkSync(aside, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(aside, { force: true });
  }
}
