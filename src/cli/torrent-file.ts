import { readFile, stat } from 'node:fs/promises';
import { parseMagnet, parseMetainfo } from '../metainfo/index.js';
import type { MagnetLink, Metainfo } from '../metainfo/types.js';
import { checkMagnetSources } from '../session/metadata-fetch.js';
import { ChunkswarmError, describeError, osReason } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';

export function isMagnet(arg: string): boolean {
  return /^magnet:/i.test(arg.trim());
}

/** What `download` and `info` take: a .torrent file, or a magnet link whose metadata comes from peers. */
export type TorrentSource =
  | { readonly kind: 'torrent'; readonly path: string; readonly metainfo: Metainfo }
  | { readonly kind: 'magnet'; readonly uri: string; readonly link: MagnetLink };

/**
 * Reads a .torrent or parses a magnet link. A magnet must name somewhere to find peers (a tracker, `x.pe`,
 * or the DHT when one runs); like every other problem here, that is a one-line usage error.
 */
export async function loadSource(arg: string, opts: { dht?: boolean } = {}): Promise<TorrentSource> {
  if (!isMagnet(arg)) return { kind: 'torrent', path: arg, metainfo: await loadTorrent(arg) };
  const link = parseMagnet(arg);
  checkMagnetSources(link, opts);
  return { kind: 'magnet', uri: arg, link };
}

/** Reads and parses a .torrent named on the command line; every failure is a one-line usage error. */
export async function loadTorrent(path: string): Promise<Metainfo> {
  if (isMagnet(path)) {
    // Serving or trading chunks by hand needs the torrent from the start; only `download` fetches it.
    parseMagnet(path);
    throw new ChunkswarmError(
      'EMAGNET',
      'this command needs the .torrent file; a magnet link works with `chunkswarm download` (which fetches the metadata from peers) and `chunkswarm info`',
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
    throw new ChunkswarmError('EUSAGE', `cannot read torrent ${path}: ${osReason(err)}`);
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

/** `info` on a magnet link: what the link itself says, without asking any peer. */
export function magnetSummary(link: MagnetLink): {
  magnet: true;
  name: string | null;
  infoHash: string;
  trackers: string[];
  peers: string[];
} {
  return {
    magnet: true,
    name: link.name ?? null,
    infoHash: link.infoHashHex,
    trackers: [...link.trackers],
    peers: [...link.peers],
  };
}

export function printMagnetInfo(uri: string, opts: { json?: boolean }): void {
  const s = magnetSummary(parseMagnet(uri));
  if (opts.json) {
    console.log(JSON.stringify(s, null, 2));
    return;
  }
  console.log(`name:        ${s.name ?? '(not given)'}`);
  console.log(`infohash:    ${s.infoHash}`);
  console.log(`trackers:    ${s.trackers.join(' | ') || '(none)'}`);
  if (s.peers.length > 0) console.log(`peers:       ${s.peers.join(' ')}`);
  console.log(
    'metadata:    not fetched (size, chunks and files come from peers: `chunkswarm download` gets them)',
  );
}
