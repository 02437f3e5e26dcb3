/**
 * Whole downloads between chunkswarm and libtorrent where the peers are found without a tracker: through
 * the DHT (BEP 5) with trackerless magnets in both directions, and through peer exchange (BEP 11), where a
 * chunkswarm leecher given only a libtorrent partial seed learns a third peer from its ut_pex and fetches
 * from it the pieces libtorrent does not have. Loopback only; libtorrent's settings are in lt_dht.py and
 * lt_peer.py (see /work/shared/REFERENCE-CLIENTS.md).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDhtUdp } from '../../src/dht/udp.js';
import { Harness, makeFile, type Proc, sameBytes } from '../integration/harness.js';
import { csCreate, dhtPeersUntil, LT_DHT, ltMake, startLt, startLtDhtSeed } from './clients.js';
import { needPackages, PYTHON } from './gate.js';

/** A bare `chunkswarm dht` node: the only bootstrap node of each test's DHT. */
async function bootstrapNode(h: Harness): Promise<{ proc: Proc; address: string }> {
  const proc = h.cs(['dht', '--port', '0']);
  const m = await proc.waitFor(/dht node listening on udp:\/\/127\.0\.0\.1:(\d+)\n/);
  return { proc, address: `127.0.0.1:${m[1]}` };
}

/** A magnet with the infohash alone, or with `x.pe` peers: no tracker, no name. */
const magnetOf = (infoHash: string, peers: string[] = []): string =>
  `magnet:?xt=urn:btih:${infoHash}${peers.map((p) => `&x.pe=${p}`).join('')}`;

describe('trackerless swarms with libtorrent: DHT and PEX', () => {
  const h = new Harness();
  before(async () => {
    await h.setup();
  });
  after(async () => {
    await h.teardown();
  });

  it('libtorrent fetches a trackerless magnet from a chunkswarm seeder found through the DHT', async (t) => {
    if (!needPackages(t, 'python3-libtorrent')) return;
    const boot = await bootstrapNode(h);
    const source = join(h.dir, 'dht-up', 'up.bin');
    await makeFile(source, 1024 * 1024 + 4321, 'lt-fetches-magnet');
    const torrent = join(h.dir, 'up.torrent');
    const infoHash = await csCreate(source, torrent, { trackers: [], noTracker: true, pieceLength: 65536 });
    const seed = h.cs(['seed', torrent, '--data', source, '--port', '0', '--dht-bootstrap', boot.address], {
      env: { XDG_STATE_HOME: join(h.dir, 'state-up') },
    });
    const seeding = await seed.waitFor(/^seeding up\.bin on 127\.0\.0\.1:(\d+)/m);
    const seedAddress = `127.0.0.1:${seeding[1]}`;

    const save = join(h.dir, 'lt-down');
    const fetch = h.spawn(PYTHON, [
      LT_DHT,
      'fetch',
      '--magnet',
      magnetOf(infoHash),
      '--save',
      save,
      '--node',
      boot.address,
      '--max-seconds',
      '75',
    ]);
    assert.equal(
      await fetch.exited(90_000),
      0,
      `libtorrent did not finish:\n${fetch.output()}\n${seed.output()}`,
    );
    // The only peer it could have found is our seeder, and only through the DHT: the magnet names nobody.
    assert.match(fetch.output(), new RegExp(`^peer ${seedAddress.replace(/\./g, '\\.')}$`, 'm'));
    assert.ok(await sameBytes(source, join(save, 'up.bin')), 'libtorrent has different bytes');
  });

  it('chunkswarm fetches a trackerless magnet from a libtorrent seeder found through the DHT', async (t) => {
    if (!needPackages(t, 'python3-libtorrent')) return;
    const boot = await bootstrapNode(h);
    const data = join(h.dir, 'dht-down', 'down.bin');
    await makeFile(data, 1024 * 1024 + 777, 'cs-fetches-magnet');
    const torrent = join(h.dir, 'down.torrent');
    const infoHash = await ltMake(data, torrent, { pieceLength: 32 * 1024 });
    const seeder = await startLtDhtSeed(h, {
      torrent,
      save: dirname(data),
      nodes: [boot.address],
      maxSeconds: 120,
    });
    const want = seeder.address;
    // libtorrent announces on its own schedule: wait until the DHT names it, so the download's first
    // lookup (the next is minutes later once a node took its announce) can find it.
    const probe = await startDhtUdp({ host: '127.0.0.1', port: 0 });
    try {
      const [host, port] = boot.address.split(':');
      probe.node.start([{ host: host!, port: Number(port) }]);
      const found = await dhtPeersUntil(probe.node, Buffer.from(infoHash, 'hex'), want, 60_000);
      assert.ok(found.has(want), `libtorrent's ${want} never reached the DHT\n${seeder.proc.output()}`);
    } finally {
      await probe.close();
    }

    const out = join(h.dir, 'cs-down');
    const download = h.cs([
      'download',
      magnetOf(infoHash),
      '--out',
      out,
      '--port',
      '0',
      '--dht-bootstrap',
      boot.address,
    ]);
    assert.equal(await download.exited(90_000), 0, `${download.output()}\n${seeder.proc.output()}`);
    assert.match(download.output(), /^complete down\.bin /m);
    assert.ok(await sameBytes(data, join(out, 'down.bin')), 'chunkswarm has different bytes');
  });

  it("a chunkswarm leecher learns a third peer from libtorrent's ut_pex and downloads from it", async (t) => {
    if (!needPackages(t, 'python3-libtorrent')) return;
    const pieceLength = 32 * 1024;
    const pieces = 24;
    const held = 8; // libtorrent holds (and wants) pieces 0..7 only
    const full = join(h.dir, 'pex-full', 'pex.bin');
    const bytes = await makeFile(full, pieces * pieceLength - 1000, 'pex-third-peer');
    const torrent = join(h.dir, 'pex.torrent');
    const infoHash = await ltMake(full, torrent, { pieceLength });
    // Each side's copy lacks what the other has: zeros where it holds nothing.
    const cut = held * pieceLength;
    const ltData = join(h.dir, 'pex-lt', 'pex.bin');
    const lt = Buffer.alloc(bytes.length);
    bytes.copy(lt, 0, 0, cut);
    await mkdir(dirname(ltData), { recursive: true });
    await writeFile(ltData, lt);
    const csData = join(h.dir, 'pex-cs', 'pex.bin');
    const partial = Buffer.from(bytes);
    partial.fill(0, 0, cut);
    await mkdir(dirname(csData), { recursive: true });
    await writeFile(csData, partial);

    // P, the third peer: a chunkswarm seeder of the pieces libtorrent lacks.
    const third = h.cs(['seed', torrent, '--data', csData, '--port', '0', '--no-dht'], {
      env: { XDG_STATE_HOME: join(h.dir, 'state-pex') },
    });
    const seeding = await third.waitFor(/^seeding pex\.bin on 127\.0\.0\.1:(\d+)/m);
    const thirdAddress = `127.0.0.1:${seeding[1]}`;
    assert.match(third.output(), new RegExp(`only ${pieces - held} of ${pieces} chunks`));
    // L, libtorrent, dials P: it knows P's listening port, so its ut_pex may name P.
    const ltPeer = await startLt(h, 'seed', {
      torrent,
      save: dirname(ltData),
      connect: [thirdAddress],
      havePieces: held,
      maxSeconds: 150,
    });
    await third.waitFor(/^peer connected: /m);

    const out = join(h.dir, 'pex-down');
    const download = h.cs([
      'download',
      magnetOf(infoHash, [ltPeer.address]),
      '--out',
      out,
      '--port',
      '0',
      '--no-dht',
    ]);
    assert.equal(
      // libtorrent builds its ut_pex message once a minute, so the third peer may be named only after
      // that: the budget is two of its rounds (a loaded machine failed with one).
      await download.exited(130_000).catch(() => 'still running'),
      0,
      `${download.output()}\n--- libtorrent\n${ltPeer.proc.output()}\n--- third peer\n${third.output()}`,
    );
    assert.ok(await sameBytes(full, join(out, 'pex.bin')), 'chunkswarm has different bytes');
    // The magnet named only libtorrent; P's pieces came from P, which the leecher knew of through PEX.
    const connected = third.output().match(/^peer connected: /gm) ?? [];
    assert.ok(connected.length >= 2, `the leecher never connected to the third peer:\n${third.output()}`);
    ltPeer.proc.child.kill('SIGTERM');
    const r = await ltPeer.result();
    assert.equal(r.payloadDown, 0, 'libtorrent downloaded pieces it was told not to want');
    const ltAfter = await readFile(ltData);
    assert.ok(
      ltAfter.subarray(cut).every((b) => b === 0),
      'libtorrent wrote pieces past its share',
    );
  });
});
