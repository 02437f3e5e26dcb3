/**
 * `chunkswarm stream <torrent|magnet> --out DIR [--file N] [--http HOST:PORT]`: downloads one file of a
 * torrent and serves it over HTTP as it comes, with Range requests, so a player can start before the end.
 * The pieces under the read position come first (a read-ahead window that moves when the player seeks),
 * and the file's first and last pieces early (players read both before they start).
 */
import { join, resolve } from 'node:path';
import { filePathInTorrent, type Metainfo, piecePriorities } from '../metainfo/index.js';
import { Client } from '../session/client.js';
import { ChunkswarmError } from '../shared/errors.js';
import { FileStorage, partFilePath } from '../storage/index.js';
import { WebGuard } from '../web/guard.js';
import { startStreamServer, torrentFileSource } from '../web/stream.js';
import { type DhtFlags, dhtStatePath, startPeerDht, wantsDht } from './dht-process.js';
import { countOf, formatBytes, parseWebAddress } from './format.js';
import { warnIfShortOfSpace } from './room.js';
import { onShutdown } from './signals.js';
import { loadSource } from './torrent-file.js';
import { logTrackerState } from './tracker-log.js';

export interface StreamOptions extends DhtFlags {
  out: string;
  file?: number;
  http?: string;
  host: string;
  port?: number;
}

/** The file to stream when none is named: the largest (the film, not its subtitles). */
function largestFile(m: Metainfo): number {
  let best = 0;
  m.files.forEach((f, i) => {
    if (f.length > m.files[best]!.length) best = i;
  });
  return best;
}

export async function streamCommand(arg: string, opts: StreamOptions): Promise<void> {
  const outDir = resolve(opts.out);
  const stateDir = join(outDir, '.chunkswarm');
  const dhtWanted = await wantsDht(opts, dhtStatePath(outDir));
  const src = await loadSource(arg, { dht: dhtWanted });
  const http = parseWebAddress(opts.http ?? '127.0.0.1:0');
  const client = new Client({ host: opts.host, port: opts.port });
  await client.listen();
  const dht = dhtWanted
    ? await startPeerDht(client, opts.host, opts, dhtStatePath(outDir), console.log)
    : undefined;
  let fileIndex = 0;
  let storage: FileStorage | undefined;
  const session = await client.add(
    src.kind === 'torrent' ? { metainfo: src.metainfo } : { magnet: src.link },
    async (m) => {
      fileIndex = opts.file ?? largestFile(m);
      if (fileIndex >= m.files.length)
        throw new ChunkswarmError(
          'EUSAGE',
          `--file ${fileIndex}: the torrent has ${countOf(m.files.length, 'file')}`,
        );
      const files = new Set([fileIndex]);
      storage = new FileStorage(m, join(outDir, m.name), {
        selection: { files, partPath: partFilePath(stateDir, m.infoHashHex) },
      });
      const have = await storage.verifyExisting({ hasher: client.hasher });
      return {
        storage,
        have,
        mode: 'auto',
        priorities: piecePriorities(m, files, { edgeFiles: files }),
        selection: { files, edgeFiles: files },
      };
    },
  );
  const m = session.metainfo;
  const name = filePathInTorrent(m, fileIndex);
  const source = torrentFileSource({
    storage: storage!,
    fileIndex,
    isVerified: (i) => session.have.has(i),
    onPieceVerified: (fn) => session.events.on('piece-verified', (i) => fn(i)),
    onWindow: (w) => session.picker.setStreamWindow(w),
  });
  const server = await startStreamServer({
    host: http.host,
    port: http.port,
    guard: new WebGuard(),
    defaultIndex: fileIndex,
    sources: (i) => (i === fileIndex ? { source, name } : undefined),
  });
  onShutdown(async () => {
    await server.close();
    await client.close();
    await dht?.close();
  });
  logTrackerState(session, console.log);
  session.connectTracker().catch(() => {});
  console.log(`streaming ${name} (${formatBytes(m.files[fileIndex]!.length)}) at ${server.url}`);
  session.events.once('done', () => console.log(`complete ${name}: every chunk of it verified`));
  await warnIfShortOfSpace(session, outDir, console.log);
}
