import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExclusive } from './exclusive-file';

describe('createExclusive', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'exclusive-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the file once, whole and private; a second call leaves it as the first wrote it', () => {
    const file = join(dir, 'secret');
    expect(createExclusive(file, 'first')).toBe(true);
    expect(createExclusive(file, 'second')).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('first');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Nothing written aside is left behind.
    expect(readdirSync(dir)).toEqual(['secret']);
  });

  it('throws what it cannot handle, and leaves nothing behind', () => {
    expect(() => createExclusive(join(dir, 'missing', 'secret'), 'x')).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
