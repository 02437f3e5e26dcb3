import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Whether files in `dir` can be opened with O_DIRECT (Linux on most disk file systems; not tmpfs). */
export async function directIoIn(dir: string): Promise<boolean> {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  if (flag === undefined) return false;
  const path = join(dir, '.direct-io-probe');
  try {
    const h = await open(path, constants.O_WRONLY | constants.O_CREAT | flag, 0o600);
    await h.close();
    return true;
  } catch {
    return false;
  } finally {
    await rm(path, { force: true });
  }
}
