import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alignedBuffer } from '../../src/storage/aligned.js';

/**
 * Whether files in `dir` take O_DIRECT writes (Linux on most disk file systems, tmpfs since 6.6): a file opened
 * with it and one aligned block written, since some file systems accept the flag and refuse the write.
 */
export async function directIoIn(dir: string): Promise<boolean> {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  if (flag === undefined) return false;
  const path = join(dir, '.direct-io-probe');
  try {
    const h = await open(path, constants.O_WRONLY | constants.O_CREAT | flag, 0o600);
    try {
      await h.write(alignedBuffer(4096), 0, 4096, 0);
    } finally {
      await h.close();
    }
    return true;
  } catch {
    return false;
  } finally {
    await rm(path, { force: true });
  }
}
