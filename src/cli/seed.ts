import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { dataLength } from '../metainfo/index.js';
import { Client } from '../session/client.js';
import { ALL_SERVED_WORDS, standingAsideWords } from '../session/status.js';
import { ChunkswarmError, osReason } from '../shared/errors.js';
import { FileStorage } from '../storage/index.js';
import { type DhtFlags, seedDhtStatePath, startPeerDht } from './dht-process.js';
import { countOf, formatBytes, formatRate, totalsLine } from './format.js';
import { ProgressLine } from './progress.js';
import { onShutdown } from './signals.js';
import { loadTorrent } from './torrent-file.js';
import { logTrackerState } from './tracker-log.js';
import { startTraceFlag, startWebFlag } from './web-flag.js';

export async function seedCommand(
  path: string,
  opts: {
    data: string;
    host: string;
    port?: number;
    uploadLimit?: number;
    announceIp?: string;
    web?: string;
    webToken?: string;
    trace?: boolean;
  } & DhtFlags,
): Promise<void> {
  const trace = startTraceFlag(opts.trace, opts.web);
  const metainfo = await loadTorrent(path);
  // A mistyped --data would otherwise read as data that matches nothing.
  await stat(opts.data).catch((err: unknown) => {
    throw new ChunkswarmError('EUSAGE', `--data ${opts.data}: ${osReason(err)}`);
  });
  const storage = new FileStorage(metainfo, resolve(opts.data), { readOnly: true });
  const client = new Client({
    host: opts.host,
    port: opts.port,
    uploadLimit: opts.uploadLimit,
    announceIp: opts.announceIp,
  });
  const progress = new ProgressLine(process.stderr, 'checking');
  const have = await storage.verifyExisting({
    hasher: client.hasher,
    onProgress: (d, t) => progress.update(d, t),
  });
  progress.done();
  if (have.count === 0) {
    await client.close({ announce: false });
    throw new ChunkswarmError('EUSAGE', `${opts.data} does not match ${path}: no chunk verified`);
  }
  if (!have.complete)
    console.error(
      `warning: only ${have.count} of ${have.size} chunks of ${opts.data} verified; seeding those`,
    );
  const { host, port } = await client.listen();
  // Before the torrent is added, so that it is announced on the DHT too (unless private, BEP 27).
  const dht = await startPeerDht(client, host, opts, seedDhtStatePath(), (line) => console.log(line));
  const session = await client.add({ metainfo }, { storage, have, mode: 'seed' });
  // What a class watching the seeder sees move: a line every few seconds while it uploads.
  let reported = session.uploaded;
  const timer = setInterval(() => {
    if (session.uploaded === reported) return;
    reported = session.uploaded;
    console.log(uploadLine(metainfo.name, session.uploaded, session.up.current, session.peers.size));
  }, UPLOAD_LINE_MS);
  timer.unref();
  onShutdown(async () => {
    clearInterval(timer);
    console.log(totalsLine(metainfo.name, session));
    await client.close();
    await dht?.close();
  });
  // A tracker that is not up yet is asked again (from 2 s, backing off); peers that connect are served anyway.
  logTrackerState(session, (line) => console.error(line), { first: true });
  await session.connectTracker().catch(() => {});
  console.log(
    `seeding ${metainfo.name} on ${host}:${port} (${formatBytes(dataLength(metainfo))}, ${metainfo.pieceCount} chunks)`,
  );
  await startWebFlag(opts.web, opts.webToken, {
    client,
    command: 'seed',
    log: (line) => console.log(line),
    trace,
  });
  session.events.on('peer-connected', (address, client) =>
    console.log(`peer connected: ${address} (${client})`),
  );
  session.events.on('peer-disconnected', (address, why) => console.log(`peer left: ${address} (${why})`));
  session.events.on('peer-banned', (address, why) => console.log(`banned ${address}: ${why}`));
  session.events.on('standing-aside', (aside) => console.log(standingAsideWords(aside)));
  session.events.on('all-served', () => console.log(ALL_SERVED_WORDS));
}

const UPLOAD_LINE_MS = 5000;

/** `big.bin: uploaded 12.0 MiB, 2.0 MiB/s up, 1 peer` */
function uploadLine(name: string, uploaded: number, rate: number, peers: number): string {
  return `${name}: uploaded ${formatBytes(uploaded)}, ${formatRate(rate)} up, ${countOf(peers, 'peer')}`;
}
