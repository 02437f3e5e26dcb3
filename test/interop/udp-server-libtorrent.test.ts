/**
 * chunkswarm's UDP tracker (BEP 15) against a client it did not write: libtorrent, given a torrent
 * whose only tracker is `udp://127.0.0.1:PORT/announce`. The tracker runs in this process
 * (startTracker), so no build is needed. A libtorrent seed announces and the tracker's store holds
 * it; chunkswarm's UDP client then sees it as a peer; a libtorrent leech finds the seed through our
 * announce reply alone and downloads the file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { udpAnnounce, udpScrape } from '../../src/tracker/client/index.js';
import { startTracker, type TrackerEvent, type TrackerHandle } from '../../src/tracker/server/index.js';
import { Harness, makeFile } from '../integration/harness.js';
import { ltMake, startLt } from './clients.js';
import { needPackages } from './gate.js';

const h = new Harness();
let tracker: TrackerHandle | undefined;

after(async () => {
  // Processes first (by PID, through the harness), so their `stopped` announces meet a live tracker.
  await h.teardown();
  await tracker?.close();
});

/** Resolves when `pick` finds an event, checking each one as it arrives; bounded by `timeoutMs`. */
function eventually(
  events: TrackerEvent[],
  subscribe: (fn: () => void) => void,
  pick: (e: TrackerEvent) => boolean,
  timeoutMs: number,
  what: string,
): Promise<TrackerEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
    const check = () => {
      const found = events.find(pick);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    subscribe(check);
    check();
  });
}

test('libtorrent announces to our tracker over udp:// and finds peers through it', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  // Not h.setup(): that insists on a built CLI, which this test does not run.
  h.dir = await mkdtemp(join(tmpdir(), 'cs-udp-lt-'));
  const events: TrackerEvent[] = [];
  let onEvent = () => {};
  tracker = await startTracker({
    port: 0,
    interval: 60,
    onEvent: (e) => {
      events.push(e);
      onEvent();
    },
  });
  const subscribe = (fn: () => void) => {
    const before = onEvent;
    onEvent = () => {
      before();
      fn();
    };
  };
  const url = tracker.udpAnnounceUrl;
  assert.ok(url, tracker.udpWarning ?? 'UDP is not served');

  const src = join(h.dir, 'src');
  const file = join(src, 'lecture.bin');
  await makeFile(file, 300 * 1024 + 123, 'udp-tracker');
  const torrent = join(h.dir, 'lecture.torrent');
  const infoHash = await ltMake(file, torrent, { pieceLength: 64 * 1024, trackers: [url] });
  assert.match(infoHash, /^[0-9a-f]{40}$/);

  const seed = await startLt(h, 'seed', { torrent, save: src, maxSeconds: 60 });
  // libtorrent prints `announced` on its first tracker reply: it read our connect and announce replies.
  await seed.proc.waitFor(/^announced$/m, 30_000);
  const announce = await eventually(
    events,
    subscribe,
    (e) => e.type === 'announce' && e.infoHash === infoHash && e.port === seed.port,
    10_000,
    "libtorrent's announce in the tracker's events",
  );
  assert.deepEqual(announce, {
    type: 'announce',
    infoHash,
    ip: '127.0.0.1',
    port: seed.port,
    event: 'started',
  });
  const held = tracker.store.peers(infoHash, 50, undefined, Date.now());
  assert.deepEqual(
    held.map((p) => ({ ip: p.ip, port: p.port, left: p.left })),
    [{ ip: '127.0.0.1', port: seed.port, left: 0 }],
    'the store holds libtorrent as a seed',
  );
  assert.match(held[0]!.peerId.subarray(0, 3).toString('latin1'), /^-LT/, "libtorrent's peer id");

  // chunkswarm's UDP client, as a leecher of the same swarm, is handed libtorrent.
  const ours = await udpAnnounce(
    url,
    {
      infoHash: Buffer.from(infoHash, 'hex'),
      peerId: Buffer.from('-CS0001-udpinterop01', 'latin1'),
      port: 6999,
      uploaded: 0,
      downloaded: 0,
      left: 1,
      key: 7,
    },
    { timeoutMs: 5000 },
  );
  assert.deepEqual(ours.peers, [{ ip: '127.0.0.1', port: seed.port }]);
  assert.equal(ours.complete, 1);

  // A libtorrent leech with no peer given: only our UDP announce reply can name the seed.
  const save = join(h.dir, 'leech');
  const leech = await startLt(h, 'leech', { torrent, save, maxSeconds: 45 });
  const res = await leech.result(50_000);
  assert.ok(
    res.finished,
    `libtorrent leech did not finish:\n${leech.proc.output()}\n--- seed ---\n${seed.proc.output()}`,
  );
  assert.equal(res.error, null);
  assert.ok((await readFile(join(save, 'lecture.bin'))).equals(await readFile(file)), 'same bytes');
  // It was given no peer, so the bytes it received came from a peer our tracker named. (Its log of peer
  // connections is not a reliable witness: a fast download can finish before it prints one.)
  assert.ok(res.payloadDown >= 307_323, `payload received: ${res.payloadDown}`);

  // libtorrent's completed announce counts in a UDP scrape.
  await eventually(
    events,
    subscribe,
    (e) => e.type === 'announce' && e.infoHash === infoHash && e.event === 'completed',
    15_000,
    "the leech's completed announce",
  );
  const [stats] = await udpScrape(url, [Buffer.from(infoHash, 'hex')], { timeoutMs: 5000 });
  assert.ok(stats && stats.downloaded >= 1, `scrape: ${JSON.stringify(stats)}`);
});
