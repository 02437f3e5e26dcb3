import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode } from './fs-errors.js';

type StatFs = (path: string) => Promise<{ bavail: number; bsize: number }>;

/**
 * Bytes an ordinary user may still write on the filesystem that holds `path`, asked of `path` or, while
 * it does not exist yet (a download's folder is made with its first chunk), of its nearest parent that
 * does. Undefined when the system cannot tell.
 */
export async function freeBytes(path: string, stat: StatFs = statfs): Promise<number | undefined> {
  for (let p = path; ; ) {
    try {
      const s = await stat(p);
      return s.bavail * s.bsize;
    } catch (err) {
      const parent = dirname(p);
      if (errnoCode(err) !== 'ENOENT' || parent === p) return undefined;
      p = parent;
    }
  }
}
