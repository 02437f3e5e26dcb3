import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { createTorrent, magnetUri } from '../metainfo/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { formatBytes } from './format.js';
import { ProgressLine } from './progress.js';
import { isMagnet, loadTorrent, printMagnetInfo } from './torrent-file.js';

export async function createCommand(
  path: string,
  opts: { tracker: string[]; pieceLength?: number; output?: string; comment?: string },
): Promise<void> {
  const pieceLength = opts.pieceLength ?? LIMITS.defaultPieceLength;
  for (const url of opts.tracker) {
    if (!/^(https?|udp):\/\/[^\s]+$/i.test(url))
      throw new ChunkswarmError('EUSAGE', `not a tracker URL: ${url}`);
  }
  const progress = new ProgressLine(process.stderr, 'hashing');
  const { torrent, metainfo } = await createTorrent({
    path: resolve(path),
    trackers: opts.tracker,
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
    `wrote ${out}: ${metainfo.name}, ${formatBytes(metainfo.totalLength)} in ${metainfo.files.length} file(s), ${metainfo.pieceCount} chunks of ${formatBytes(metainfo.pieceLength)}`,
  );
}

export async function infoCommand(path: string, opts: { json?: boolean }): Promise<void> {
  if (isMagnet(path)) return printMagnetInfo(path, opts);
  const m = await loadTorrent(path);
  const summary = {
    name: m.name,
    infoHash: m.infoHashHex,
    size: m.totalLength,
    pieceLength: m.pieceLength,
    pieces: m.pieceCount,
    private: m.private,
    files: m.files.map((f) => ({ path: f.path.join('/'), length: f.length })),
    trackers: m.announceList.map((tier) => [...tier]),
    magnet: magnetUri(m),
  };
  if (opts.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  console.log(`name:        ${m.name}`);
  console.log(`infohash:    ${m.infoHashHex}`);
  console.log(`size:        ${formatBytes(m.totalLength)} (${m.totalLength} bytes)`);
  console.log(`chunks:      ${m.pieceCount} of ${formatBytes(m.pieceLength)}`);
  console.log(`trackers:    ${summary.trackers.map((t) => t.join(' ')).join(' | ') || '(none)'}`);
  console.log(`files:       ${m.files.length}`);
  for (const f of summary.files.slice(0, 50))
    console.log(`  ${formatBytes(f.length).padStart(10)}  ${f.path}`);
  if (m.files.length > 50) console.log(`  ... and ${m.files.length - 50} more`);
  console.log(`magnet:      ${summary.magnet}`);
}
