import { readFile, stat } from 'node:fs/promises';
import { parseMetainfo } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';

/** Reads and parses a .torrent named on the command line; every failure is a one-line usage error. */
export async function loadTorrent(path: string): Promise<Metainfo> {
  if (path.startsWith('magnet:')) {
    throw new ChunkswarmError(
      'EMAGNET',
      'magnet links need metadata from peers (BEP 9), which chunkswarm does not fetch yet: use the .torrent file',
    );
  }
  let size: number;
  let bytes: Buffer;
  try {
    const st = await stat(path);
    // A folder (or a device) given as the torrent is the user's mistake, not a failure on the way.
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
    if (size > LIMITS.metainfoBytes) {
      throw new ChunkswarmError(
        'EMETAINFO_SIZE',
        `${path}: ${size} bytes is larger than the ${LIMITS.metainfoBytes}-byte limit for a .torrent`,
      );
    }
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof ChunkswarmError) throw err;
    throw new ChunkswarmError('EUSAGE', `cannot read torrent ${path}: ${describeError(err)}`);
  }
  try {
    return parseMetainfo(bytes);
  } catch (err) {
    throw new ChunkswarmError(
      err instanceof ChunkswarmError ? err.code : 'EMETAINFO',
      `${path}: ${describeError(err)}`,
    );
  }
}
