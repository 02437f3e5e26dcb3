import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { createTorrent, dataLength, filePieces, isWebSeedUrl, magnetUri } from '../metainfo/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { countOf, formatBytes } from './format.js';
import { ProgressLine } from './progress.js';
import { isMagnet, loadTorrent, printMagnetInfo } from './torrent-file.js';

export async function createCommand(
  path: string,
  opts: {
    tracker?: string[] | false;
    webSeed?: string[];
    pieceLength?: number;
    output?: string;
    comment?: string;
  },
): Promise<void> {
  const pieceLength = opts.pieceLength ?? LIMITS.defaultPieceLength;
  // A trackerless torrent (--no-tracker) is found through the DHT (BEP 5) and peer exchange.
  if (opts.tracker === undefined)
    throw new ChunkswarmError(
      'EUSAGE',
      'give --tracker URL, or --no-tracker for a torrent found through the DHT',
    );
  const trackers = opts.tracker === false ? [] : opts.tracker;
  for (const url of trackers) {
    if (!/^(https?|udp):\/\/[^\s]+$/i.test(url))
      throw new ChunkswarmError('EUSAGE', `not a tracker URL: ${url}`);
  }
  const webSeeds = opts.webSeed ?? [];
  for (const url of webSeeds) {
    if (!isWebSeedUrl(url)) throw new ChunkswarmError('EUSAGE', `not a web seed URL (http or https): ${url}`);
  }
  const progress = new ProgressLine(process.stderr, 'hashing');
  const { torrent, metainfo } = await createTorrent({
    path: resolve(path),
    trackers,
    webSeeds,
    pieceLength,
    comment: opts.comment,
    onProgress: (done, total) => progress.update(done, total),
  });
  progress.done();
  const out = opts.output ?? `${basename(resolve(path))}.torrent`;
  await writeFile(out, torrent);
  console.log(metainfo.infoHashHex);
  console.log(magnetUri(metainfo));
  console.error(
    `wrote ${out}: ${metainfo.name}, ${formatBytes(metainfo.totalLength)} in ${countOf(metainfo.files.length, 'file')}, ${countOf(metainfo.pieceCount, 'chunk')} of ${formatBytes(metainfo.pieceLength)}`,
  );
}

export async function infoCommand(path: string, opts: { json?: boolean }): Promise<void> {
  if (isMagnet(path)) return printMagnetInfo(path, opts);
  const m = await loadTorrent(path);
  const summary = {
    name: m.name,
    infoHash: m.infoHashHex,
    size: m.totalLength,
    // BEP 47 padding: inside `size` and the chunks, in no file.
    padding: m.totalLength - dataLength(m),
    pieceLength: m.pieceLength,
    pieces: m.pieceCount,
    private: m.private,
    // `index` is what `download --select` takes; `chunks` the first and last chunk holding the file.
    files: m.files.map((f, index) => {
      const r = filePieces(m, index);
      return { index, path: f.path.join('/'), length: f.length, chunks: r ? [r.first, r.last] : null };
    }),
    trackers: m.announceList.map((tier) => [...tier]),
    webSeeds: m.webSeeds,
    magnet: magnetUri(m),
  };
  if (opts.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  console.log(`name:        ${m.name}`);
  console.log(`infohash:    ${m.infoHashHex}`);
  console.log(`size:        ${formatBytes(m.totalLength)} (${m.totalLength} bytes)`);
  if (summary.padding > 0)
    console.log(
      `padding:     ${formatBytes(summary.padding)} (${summary.padding} bytes of zeros that align files to chunks, BEP 47: part of the chunks, stored nowhere)`,
    );
  console.log(`chunks:      ${m.pieceCount} of ${formatBytes(m.pieceLength)}`);
  console.log(`trackers:    ${summary.trackers.map((t) => t.join(' ')).join(' | ') || '(none)'}`);
  if (m.webSeeds.length > 0)
    console.log(
      `web seeds:   ${m.webSeeds.join(' ')} (BEP 19: a download fetches from them beside its peers)`,
    );
  console.log(`files:       ${m.files.length}`);
  const width = String(m.files.length - 1).length;
  for (const f of summary.files.slice(0, 50))
    console.log(`  ${String(f.index).padStart(width)}  ${formatBytes(f.length).padStart(10)}  ${f.path}`);
  if (m.files.length > 50) console.log(`  ... and ${m.files.length - 50} more (--json lists every file)`);
  console.log(`magnet:      ${summary.magnet}`);
}
