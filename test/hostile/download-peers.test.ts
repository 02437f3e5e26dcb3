/**
 * Hostile peers against a real `chunkswarm download` (issue 7): a scripted "seeder" that advertises every
 * piece and answers some requests with garbage, next to an honest `chunkswarm seed`. The download must
 * finish byte-identical from the honest one, and the poisoner must end up banned by its ip:port.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { Metainfo } from '../../src/metainfo/types.js';
import { TrackerClient } from '../../src/tracker/index.js';
import { freePort, Harness, makeFile, sameBytes } from '../integration/harness.js';
import { createTorrent, cs, startSeed, startTracker } from './cli.js';
import { closeAll, hostilePeerId, loadMetainfo, ScriptedPeer, ScriptedSeeder } from './scripted-peer.js';

const h = new Harness();
let m: Metainfo;
let data: Buffer;
let dataPath = '';
let torrent = '';
let announce = '';
let honestPort = 0;

before(async () => {
  await h.setup();
  dataPath = join(h.dir, 'dataset.bin');
  data = await makeFile(dataPath, 4 * 1024 * 1024 + 999, 'hostile-download');
  announce = await startTracker(h);
  torrent = join(h.dir, 'dataset.torrent');
  await createTorrent(h, dataPath, announce, torrent);
  m = await loadMetainfo(torrent);
  // Slow, so the fast poisoner gets asked for plenty of pieces.
  ({ port: honestPort } = await startSeed(h, torrent, dataPath, ['--upload-limit', '512KiB']));
});

afterEach(closeAll);
after(() => h.teardown());

/** The true bytes of a block, or (for the pieces `poison` picks) the same number of wrong bytes. */
function blocks(poison: (index: number) => boolean) {
  return (index: number, begin: number, length: number): Buffer => {
    const at = index * m.pieceLength + begin;
    const block = Buffer.from(data.subarray(at, at + length));
    if (poison(index)) block.fill(0xa5);
    return block;
  };
}

async function announceAs(peerId: Buffer, port: number): Promise<void> {
  const client = new TrackerClient({ tiers: [[announce]], infoHash: m.infoHash, peerId, port });
  await client.announce({ event: 'started', uploaded: 0, downloaded: 0, left: 0 });
}

test('a seeder that sends garbage for every third piece is banned; the download completes from the honest one', async (t) => {
  const poisoner = new ScriptedSeeder(
    m,
    blocks((i) => i % 3 === 0),
  );
  const poisonerPort = await poisoner.listen();
  await announceAs(poisoner.peerId, poisonerPort);

  const port = await freePort();
  const out = join(h.dir, 'out');
  // --seed keeps the process up after completion, so its bans can be tried from outside.
  const dl = cs(h, ['download', torrent, '--out', out, '--port', String(port), '--seed']);
  await dl.waitFor(/^complete dataset\.bin /m, 60_000);
  assert.ok(await sameBytes(dataPath, join(out, 'dataset.bin')), 'the download differs from the data');

  const poisoned = [...poisoner.served.keys()].filter((i) => i % 3 === 0);
  assert.ok(
    poisoned.length >= 3,
    `the poisoner was asked for only ${poisoned.length} poisoned pieces: the test proves nothing`,
  );
  assert.ok(
    poisoner.peers.length > 0 && poisoner.peers.every((p) => p.closed),
    'the download kept talking to the poisoner',
  );

  // Banned by ip:port: when the poisoner dials in and names its listening port (BEP 10 `p`), it is refused...
  const back = await poisoner.dial(
    port,
    blocks(() => true),
  );
  await back.waitClosed('the download let a banned peer back in', 5000);
  // ...while the honest seeder's address, which shared some failed pieces with it, is not banned: a peer
  // naming that port is served like a newcomer would be.
  const probe = await ScriptedPeer.dial(port, { pieceCount: m.pieceCount });
  probe.handshake({ infoHash: m.infoHash, listenPort: honestPort });
  probe.send({ type: 'have-none' }, { type: 'interested' });
  await probe.waitMessage(
    (x) => x.type === 'unchoke',
    "the honest seeder's address was banned along with the poisoner",
  );

  dl.child.kill('SIGTERM');
  assert.equal(await dl.exited(), 0, dl.output());
  const totals = /^totals dataset\.bin: downloaded \d+ B, uploaded \d+ B, (\d+) hash failures$/m.exec(
    dl.output(),
  );
  assert.ok(totals, dl.output());
  assert.ok(Number(totals[1]) >= 3, `only ${totals[1]} hash failures reported`);
  // The user is told who was banned and why.
  assert.match(
    dl.output(),
    new RegExp(`^banned 127\\.0\\.0\\.1:${poisonerPort}: sent data that failed its hash check$`, 'm'),
  );
  // The download says how many pieces failed, but nothing names the banned peer: see the report.
  t.diagnostic(
    `poisoned pieces served ${poisoned.length}, hash failures reported ${totals[1]}, output mentions a ban: ${/\bban/i.test(dl.output())}`,
  );
  await poisoner.close();
});

test('blocks never requested and a wrong infohash: dropped by the download, which still completes', async () => {
  const port = await freePort();
  const out = join(h.dir, 'out2');
  const dl = cs(h, ['download', torrent, '--out', out, '--port', String(port)]);
  await dl.waitFor(/^listening on /m);

  const stranger = await ScriptedPeer.dial(port, { pieceCount: m.pieceCount });
  stranger.handshake({ infoHash: Buffer.alloc(20, 0x33) });
  await stranger.waitClosed('the download kept a peer with another infohash', 5000);
  assert.equal(stranger.bytesIn, 0);

  // Claims every piece, then pushes blocks nobody asked for: one strike each, banned at six.
  const claimed = await freePort();
  const pusher = await ScriptedPeer.dial(port, { pieceCount: m.pieceCount });
  pusher.handshake({ infoHash: m.infoHash, peerId: hostilePeerId(), listenPort: claimed });
  pusher.send({ type: 'have-all' }, { type: 'unchoke' });
  for (let i = 0; i < 6; i++)
    pusher.send({ type: 'piece', index: m.pieceCount - 1 - i, begin: 0, block: data.subarray(0, 1024) });
  await pusher.waitClosed('the download kept a peer that pushed six unrequested blocks', 5000);

  assert.equal(await dl.exited(60_000), 0, dl.output());
  assert.ok(await sameBytes(dataPath, join(out, 'dataset.bin')));
});
