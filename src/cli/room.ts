import { resolve } from 'node:path';
import type { TorrentSession } from '../session/session.js';
import { freeBytes } from '../storage/index.js';
import { formatBytes } from './format.js';

/**
 * Says at the start when the disk under `--out` has less room than the chunks still to fetch: the download
 * would stop with "no space left" part way. Only a warning: the files may hold some of the room already, and
 * room may be made meanwhile.
 */
export async function warnIfShortOfSpace(
  s: TorrentSession,
  outDir: string,
  log: (line: string) => void,
): Promise<void> {
  const needed = s.wantedLeft;
  if (needed === 0) return;
  const free = await freeBytes(resolve(outDir, s.metainfo.name));
  if (free === undefined || free >= needed) return;
  log(
    `warning: ${s.metainfo.name} needs ${formatBytes(needed)} more and ${resolve(outDir)} has ${formatBytes(free)} free: the download stops when the disk is full (the chunks verified are kept)`,
  );
}
