import { readFile, stat } from 'node:fs/promises';
import { parseMetainfo } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';

/** Reads and parses a .torrent named on the command line; every failure is a one-line usage error. */
export async function loadTorrent(path: string): Promise<Metainfo> {
  if (path.startsWith('magnet:')) {
    throw new ChunkswarmError('EMAGNET', 'magnet links need metadata from peers (BEP 9), which chunkswarm does not fetch yet: use the .torrent file');
  }
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new ChunkswarmError('EUSAGE', `cannot read torrent ${path}: ${describeError(err)}`);
  }
  if (size > LIMITS.metainfoBytes) {
    throw new ChunkswarmError('EMETAINFO_SIZE', `${path}: ${size} bytes is larger than the ${LIMITS.metainfoBytes}-byte limit for a .torrent`);
  }
  const bytes = await readFile(path);
  try {
    return parseMetainfo(bytes);
  } catch (err) {
    throw new ChunkswarmError(err instanceof ChunkswarmError ? err.code : 'EMETAINFO', `${path}: ${describeError(err)}`);
  }
}
