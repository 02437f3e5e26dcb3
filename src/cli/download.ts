import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Metainfo } from '../metainfo/types.js';
import { Client } from '../session/client.js';
import type { TorrentSession } from '../session/session.js';
import { describeError } from '../shared/errors.js';
import { FileStorage } from '../storage/index.js';
import { formatBytes, formatDuration, formatRate } from './format.js';
import { ProgressBoard } from './progress.js';
import { onShutdown } from './signals.js';
import { loadTorrent } from './torrent-file.js';
import { startWebFlag } from './web-flag.js';

export interface DownloadOptions {
  out: string;
  seed?: boolean;
  host: string;
  port?: number;
  uploadLimit?: number;
  downloadLimit?: number;
  maxPeers?: number;
  announceIp?: string;
  web?: string;
  webToken?: string;
}

export async function downloadCommand(paths: string[], opts: DownloadOptions): Promise<void> {
  const torrents: Metainfo[] = [];
  for (const p of paths) torrents.push(await loadTorrent(p));
  const outDir = resolve(opts.out);
  await mkdir(outDir, { recursive: true });
  const client = new Client({
    host: opts.host,
    port: opts.port,
    uploadLimit: opts.uploadLimit,
    downloadLimit: opts.downloadLimit,
    maxPeers: opts.maxPeers,
    announceIp: opts.announceIp,
  });
  await client.listen();
  const board = new ProgressBoard();
  const sessions: TorrentSession[] = [];
  for (const metainfo of torrents) {
    const storage = new FileStorage(metainfo, join(outDir, metainfo.name));
    const have = await storage.verifyExisting({ hasher: client.hasher });
    if (have.count > 0)
      board.log(`resuming: ${have.count} of ${have.size} chunks already verified (${metainfo.name})`);
    sessions.push(client.addSession({ metainfo, storage, have, mode: 'auto' }));
  }
  onShutdown(async () => {
    board.stop();
    printTotals(sessions);
    await client.close();
  });
  board.log(`listening on ${client.host}:${client.port}`);

  let remaining = sessions.length;
  let resolveAll = (): void => {};
  const allDone = new Promise<void>((r) => {
    resolveAll = r;
  });
  // A torrent added from the web page joins the ones this command waits for.
  const track = (s: TorrentSession): void => {
    const finish = (): void => {
      const seconds = ((s.completedAt ?? Date.now()) - s.startedAt) / 1000;
      const size = s.metainfo.totalLength;
      board.log(
        `complete ${s.metainfo.name} ${formatBytes(size)} in ${formatDuration(seconds)} (${formatRate(size / Math.max(seconds, 0.001))})`,
      );
      if (--remaining === 0) resolveAll();
    };
    if (s.complete) finish();
    else s.events.once('complete', finish);
    s.events.on('warning', (m) => board.log(`warning: ${m}`));
    s.events.on('error', (m) => {
      board.stop();
      console.error(`chunkswarm: ${s.metainfo.name}: ${m}`);
      printTotals(sessions);
      void client.close().finally(() => process.exit(1));
    });
  };
  for (const s of sessions) track(s);

  for (const s of sessions) {
    s.connectTracker().catch((err) => board.log(`tracker: ${describeError(err)} (will retry)`));
  }
  await startWebFlag(opts.web, opts.webToken, {
    client,
    command: 'download',
    log: (line) => board.log(line),
    saveTo: { files: outDir },
    onAdded: (s) => {
      remaining++;
      sessions.push(s);
      track(s);
    },
  });
  const timer = setInterval(() => {
    for (const s of sessions) {
      board.update(s.metainfo.infoHashHex, {
        name: s.metainfo.name,
        done: s.metainfo.totalLength - s.left,
        total: s.metainfo.totalLength,
        rate: s.down.rate,
        upRate: s.up.rate,
        peers: s.peers.size,
      });
    }
    board.plain(() =>
      sessions.map(
        (s) =>
          `${s.metainfo.name}: ${s.have.count}/${s.pieceCount} chunks, ${formatRate(s.down.rate)} down, ${formatRate(s.up.rate)} up, ${s.peers.size} peers`,
      ),
    );
  }, 500);
  timer.unref();

  await allDone;
  if (opts.seed) {
    board.log(`seeding ${sessions.map((s) => s.metainfo.name).join(', ')} on ${client.host}:${client.port}`);
    for (const s of sessions) s.setMode('seed');
    setInterval(() => {}, 1 << 30); // stay up until a signal
    return;
  }
  clearInterval(timer);
  board.stop();
  printTotals(sessions);
  await client.close();
  process.exit(0);
}

/** What this process moved, per torrent: shows who fed whom in a swarm. */
function printTotals(sessions: TorrentSession[]): void {
  for (const s of sessions) {
    console.log(
      `totals ${s.metainfo.name}: downloaded ${s.downloaded} B, uploaded ${s.uploaded} B, ${s.hashFailures} hash failures`,
    );
  }
}
