import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  buildTorrentFile,
  dataLength,
  parseMetainfo,
  piecePriorities,
  resolveSelection,
} from '../metainfo/index.js';
import type { MagnetLink, Metainfo } from '../metainfo/types.js';
import { Client } from '../session/client.js';
import { type MetadataFetch, parseHostPort } from '../session/metadata-fetch.js';
import { keepResumeData, openDownloadStorage, ResumeFile, writeStateFile } from '../session/resume.js';
import type { TorrentSession } from '../session/session.js';
import { ALL_SERVED_WORDS, bytesInFiles, standingAsideWords, torrentProgress } from '../session/status.js';
import { describeError, isChunkswarmError } from '../shared/errors.js';
import type { TorrentProgress } from '../shared/status.js';
import { type FileStorage, partFilePath } from '../storage/index.js';
import { dhtStatePath, startPeerDht, wantsDht } from './dht-process.js';
import { countOf, formatBytes, formatDuration, formatRate, sourcesText, totalsLine } from './format.js';
import { runOnComplete } from './on-complete.js';
import { ProgressBoard } from './progress.js';
import { warnIfShortOfSpace } from './room.js';
import { onShutdown } from './signals.js';
import { loadSource, type TorrentSource } from './torrent-file.js';
import { logTrackerState } from './tracker-log.js';
import { startTraceFlag, startWebFlag } from './web-flag.js';

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
  dht?: boolean;
  dhtBootstrap?: { host: string; port: number }[];
  /** File indices to download (`0,2-4`); the others are never created. */
  select?: string;
  /** Globs of files to leave out. */
  exclude?: string[];
  /** Run with the torrent's name, infohash and path in its environment when a torrent is done. */
  onComplete?: string;
  trace?: boolean;
}

export async function downloadCommand(paths: string[], opts: DownloadOptions): Promise<void> {
  const trace = startTraceFlag(opts.trace, opts.web);
  // Every argument is read (and every magnet checked) before anything starts: a typo costs nothing.
  const outDir = resolve(opts.out);
  const dhtState = dhtStatePath(outDir);
  const dhtWanted = await wantsDht(opts, dhtState);
  const torrents: Metainfo[] = [];
  const magnets: Extract<TorrentSource, { kind: 'magnet' }>[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    const src = await loadSource(p, { dht: dhtWanted });
    const hash = src.kind === 'torrent' ? src.metainfo.infoHashHex : src.link.infoHashHex;
    // The same torrent twice (say, as a .torrent and as a magnet): the first one given is enough.
    if (seen.has(hash)) continue;
    seen.add(hash);
    if (src.kind === 'torrent') torrents.push(src.metainfo);
    else magnets.push(src);
  }
  // Resume data and the metadata of magnets live beside the downloads, in a folder of their own.
  const stateDir = join(outDir, STATE_DIR);
  await mkdir(stateDir, { recursive: true });
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
  const dht = dhtWanted
    ? await startPeerDht(client, opts.host, opts, dhtState, (l) => board.log(l))
    : undefined;
  const sessions: TorrentSession[] = [];
  const keepers: { stop(): Promise<void> }[] = [];
  /** Stops every torrent, lets the chunks in hand reach the disk, and records what is verified. */
  const saveResumeData = async (): Promise<void> => {
    await Promise.all(sessions.map((s) => s.stop()));
    await Promise.all(keepers.map((k) => k.stop().catch(() => {})));
  };
  /** Storage under --out and what of it is verified: from the resume record when the files are as it left them. */
  const selecting = opts.select !== undefined || (opts.exclude?.length ?? 0) > 0;
  const prepare = async (metainfo: Metainfo) => {
    // --select / --exclude: files left out are never created; bytes of a chunk they share with a chosen
    // file go to a part file under --out/.chunkswarm. A resumed download finds its bytes where the last run
    // left them, whatever that run's selection was, and moves them for this one.
    const files = selecting
      ? resolveSelection(metainfo, { select: opts.select, exclude: opts.exclude })
      : undefined;
    if (files)
      board.log(
        `${metainfo.name}: ${files.size} of ${countOf(metainfo.files.length, 'file')} selected (${[...files].sort((a, b) => a - b).join(', ')})`,
      );
    if (metainfo.webSeeds.length > 0)
      board.log(`${metainfo.name}: web seeds (BEP 19): ${metainfo.webSeeds.join(' ')}`);
    const resume = new ResumeFile(stateDir, metainfo.infoHashHex);
    const { storage, have, recorded } = await openDownloadStorage({
      metainfo,
      contentPath: join(outDir, metainfo.name),
      partPath: partFilePath(stateDir, metainfo.infoHashHex),
      files,
      resume,
      hasher: client.hasher,
    });
    if (have.count > 0)
      board.log(
        `resuming: ${have.count} of ${have.size} chunks already verified (${metainfo.name}${recorded ? ', as recorded when it stopped' : ''})`,
      );
    const priorities = files ? piecePriorities(metainfo, files) : undefined;
    const selection = files ? { files } : undefined;
    return { storage, have, mode: 'auto' as const, resume, priorities, selection };
  };
  const keepState = (session: TorrentSession, storage: FileStorage, resume: ResumeFile): void => {
    keepers.push(keepResumeData(session, storage, resume, (m) => board.log(`warning: ${m}`)));
  };
  const openSession = async (metainfo: Metainfo): Promise<TorrentSession> => {
    const { storage, have, mode, resume, priorities, selection } = await prepare(metainfo);
    const session = await client.add({ metainfo }, { storage, have, mode, priorities, selection });
    keepState(session, storage, resume);
    return session;
  };
  for (const metainfo of torrents) sessions.push(await openSession(metainfo));
  const fetches: MetadataFetch[] = [];
  onShutdown(async () => {
    board.stop();
    for (const f of fetches) f.stop('interrupted');
    printTotals(sessions);
    await saveResumeData();
    await client.close();
    await dht?.close();
  });
  board.log(`listening on ${client.host}:${client.port}`);

  let remaining = sessions.length + magnets.length;
  let resolveAll = (): void => {};
  const allDone = new Promise<void>((r) => {
    resolveAll = r;
  });
  // A torrent added from the web page joins the ones this command waits for.
  const track = (s: TorrentSession): void => {
    // The average rate counts only what this run fetched: a resumed download had the rest already.
    const leftAtStart = s.left;
    const finish = (): void => {
      const seconds = ((s.completedAt ?? s.clock.now()) - s.startedAt) / 1000;
      // With --select, what was fetched is the chosen files (and the chunks they share with others).
      const size = bytesInFiles(s).done;
      board.log(
        `complete ${s.metainfo.name} ${formatBytes(size)} in ${formatDuration(seconds)} (${formatRate(leftAtStart / Math.max(seconds, 0.001))})`,
      );
      if (opts.onComplete)
        void runOnComplete(
          opts.onComplete,
          { name: s.metainfo.name, infoHashHex: s.metainfo.infoHashHex, path: join(outDir, s.metainfo.name) },
          (line) => board.log(line),
        );
      if (--remaining === 0) resolveAll();
    };
    // Done: every chunk, or every chunk of the files selected.
    if (s.done) finish();
    else s.events.once('done', finish);
    s.events.on('warning', (m) => board.log(`warning: ${m}`));
    void warnIfShortOfSpace(s, outDir, (line) => board.log(line));
    logTrackerState(s, (line) => board.log(line));
    s.events.on('peer-banned', (address, why) => board.log(`banned ${address}: ${why}`));
    s.events.on('standing-aside', (aside) => board.log(`${s.metainfo.name}: ${standingAsideWords(aside)}`));
    s.events.on('all-served', () => board.log(`${s.metainfo.name}: ${ALL_SERVED_WORDS}`));
    s.events.on('error', (m) => {
      board.stop();
      console.error(`chunkswarm: ${s.metainfo.name}: ${m}`);
      printTotals(sessions);
      process.exitCode = 1;
      void saveResumeData()
        .then(() => client.close())
        .finally(() => process.exit(1));
    });
  };
  for (const s of sessions) track(s);

  // A tracker that does not answer is tried again (backoff from 2 s); logTrackerState says when.
  for (const s of sessions) s.connectTracker().catch(() => {});
  // The fetch's errors name the torrent themselves.
  const failed = (err: unknown): void => {
    board.stop();
    console.error(`chunkswarm: ${describeError(err)}`);
    printTotals(sessions);
    void client.close().finally(() => process.exit(exitCodeOf(err)));
  };
  // A magnet becomes a torrent like the others once peers have sent its metadata (BEP 9); then it joins
  // the same path: storage, resume, tracker, progress, `complete`, --seed. The connections that brought the
  // metadata stay: the session adopts them.
  const started = (s: TorrentSession): void => {
    if (sessions.includes(s)) {
      // Added from the web page meanwhile: that session is already counted, and it has the peers now.
      if (--remaining === 0) resolveAll();
      return;
    }
    sessions.push(s);
    track(s);
    // A magnet without `tr=` makes a torrent without trackers (connectTracker then does nothing): its
    // peers are the ones it came with, and the DHT's.
    s.connectTracker().catch(() => {});
  };
  for (const { link } of magnets) {
    const saved = join(stateDir, `${link.infoHashHex}.torrent`);
    const cached = await readSavedMetadata(saved, link);
    if (cached) {
      board.log(`metadata of ${cached.name}: read from ${saved}, saved when it was first fetched`);
      const xpe = link.peers.flatMap((spec) => parseHostPort(spec) ?? []);
      const open = client.sessions.get(cached.infoHashHex);
      (open ? Promise.resolve(open) : openSession(cached))
        .then((s) => {
          started(s);
          s.dialUntilComplete(xpe);
        })
        .catch(failed);
      continue;
    }
    let prepared: Awaited<ReturnType<typeof prepare>> | undefined;
    client
      .add(
        {
          magnet: link,
          onFetch: (fetch) => {
            fetches.push(fetch);
            board.log(`fetching the metadata of ${fetch.label} from peers (magnet link)`);
            fetch.events.on('warning', (m) => board.log(`warning: ${m}`));
            fetch.events.on('hash-failed', (peers) =>
              board.log(
                `warning: metadata from ${peers.join(', ')} does not match the infohash; asking again`,
              ),
            );
          },
        },
        async (metainfo) => {
          board.log(
            `metadata of ${metainfo.name}: ${formatBytes(metainfo.infoBytes.length)}, ${formatBytes(dataLength(metainfo))} in ${countOf(metainfo.files.length, 'file')}`,
          );
          // Kept so that a restart of this magnet need not wait for peers to send it again.
          await saveMetadata(saved, metainfo).catch((err) =>
            board.log(`warning: cannot save the metadata to ${saved}: ${describeError(err)}`),
          );
          prepared = await prepare(metainfo);
          const { storage, have, mode, priorities, selection } = prepared;
          return { storage, have, mode, priorities, selection };
        },
      )
      .then((s) => {
        if (prepared && !sessions.includes(s)) keepState(s, prepared.storage, prepared.resume);
        started(s);
      })
      .catch(failed);
  }
  await startWebFlag(opts.web, opts.webToken, {
    client,
    command: 'download',
    trace,
    log: (line) => board.log(line),
    saveTo: { open: openSession },
    onAdded: (s) => {
      remaining++;
      sessions.push(s);
      track(s);
    },
    // A magnet added from the page is waited for while its metadata comes, like the ones given here.
    holdWhileFetching: () => {
      remaining++;
      return () => {
        if (--remaining === 0) resolveAll();
      };
    },
  });
  // A stall is said once, when its reason has held for two ticks (a second), and again when it changes.
  const stalls = new Map<
    TorrentSession,
    { reason: string | undefined; ticks: number; said: string | undefined }
  >();
  const timer = setInterval(() => {
    const statuses = sessions.map((s) => torrentProgress(s));
    statuses.forEach((st, i) => {
      const s = sessions[i]!;
      board.update(st.infoHash, {
        name: st.name,
        done: st.done,
        total: st.size,
        rate: st.downRate,
        upRate: st.upRate,
        peers: st.peerCount,
        webSeeds: st.webSeedCount,
      });
      const stall = stalls.get(s) ?? { reason: undefined, ticks: 0, said: undefined };
      stall.ticks = stall.reason === st.waitingFor ? stall.ticks + 1 : 0;
      stall.reason = st.waitingFor;
      if (stall.ticks === 2 && stall.reason !== undefined && stall.reason !== stall.said)
        board.log(`${st.name}: waiting: ${stall.reason}`);
      if (stall.ticks >= 2) stall.said = stall.reason;
      stalls.set(s, stall);
    });
    board.plain(() => statuses.map(statusLine));
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
  await saveResumeData();
  await client.close();
  await dht?.close();
  process.exit(0);
}

/** The folder under `--out` that holds resume data and magnets' metadata. */
const STATE_DIR = '.chunkswarm';

/** The metadata a previous run fetched for `link`, when it is there and is that torrent's. */
async function readSavedMetadata(path: string, link: MagnetLink): Promise<Metainfo | undefined> {
  try {
    const m = parseMetainfo(await readFile(path));
    return m.infoHash.equals(link.infoHash) ? m : undefined;
  } catch {
    // Missing or damaged: fetch it from peers again.
    return undefined;
  }
}

function saveMetadata(path: string, metainfo: Metainfo): Promise<void> {
  // The magnet's trackers, each in its own tier as the magnet gave them, and its web seeds, around the exact
  // info bytes.
  const bytes = buildTorrentFile(metainfo.infoBytes, {
    trackers: metainfo.announceList.flat(),
    webSeeds: metainfo.webSeeds,
  });
  return writeStateFile(path, bytes);
}

/** Like the command's own failures: bad input (an unusable torrent behind a magnet) exits 2, the rest 1. */
function exitCodeOf(err: unknown): number {
  return isChunkswarmError(err) && ['EMETAINFO', 'EUNSAFE_PATH', 'EMAGNET'].includes(err.code) ? 2 : 1;
}

function printTotals(sessions: TorrentSession[]): void {
  for (const s of sessions) console.log(totalsLine(s.metainfo.name, s));
}

/** The progress line a download prints into a log (no terminal) every few seconds. */
export function statusLine(st: TorrentProgress): string {
  const waiting = st.waitingFor ? ` (waiting: ${st.waitingFor})` : '';
  return `${st.name}: ${st.have}/${st.pieceCount} chunks, ${formatRate(st.downRate)} down, ${formatRate(st.upRate)} up, ${sourcesText(st.peerCount, st.webSeedCount)}${waiting}`;
}
