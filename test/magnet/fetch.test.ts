/**
 * Fetching metadata for a magnet link (BEP 9) in this process, from chunkswarm seeders and from scripted
 * peers that reject, stay silent, lie about the bytes or about the size. Time limits are short here so
 * that a test of giving up takes a second, not a minute.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { parseMagnet } from '../../src/metainfo/index.js';
import { makePeerId } from '../../src/peer/connection.js';
import type { Client } from '../../src/session/client.js';
import { checkMagnetSources, MetadataFetch, UNKNOWN_LEFT } from '../../src/session/metadata-fetch.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { type Behaviour, magnetOf, makeTorrent, ScriptedSeeder, startSeeder } from './helpers.js';

const clients: Client[] = [];
const scripted: ScriptedSeeder[] = [];
after(async () => {
  for (const c of clients) await c.close({ announce: false });
  for (const s of scripted) await s.close();
});

/** A metadata of three BEP 9 pieces. */
const torrent = makeTorrent(1700);

async function script(behaviour: Behaviour, metainfo = torrent): Promise<ScriptedSeeder> {
  const s = await new ScriptedSeeder(metainfo.infoBytes, metainfo.infoHash, behaviour).listen();
  scripted.push(s);
  return s;
}

function fetcher(
  peers: string[],
  opts: { timeoutMs?: number; requestTimeoutMs?: number } = {},
  metainfo = torrent,
) {
  return new MetadataFetch({
    magnet: magnetOf(metainfo, peers),
    peerId: makePeerId(),
    listenPort: 6999,
    timeoutMs: opts.timeoutMs ?? 10_000,
    requestTimeoutMs: opts.requestTimeoutMs,
  });
}

/** Who sent which piece. */
function watch(f: MetadataFetch) {
  const from = new Map<number, string>();
  const hashFailures: string[][] = [];
  const closed: [string, string][] = [];
  f.events.on('piece', (piece, _have, _count, peer) => from.set(piece, peer));
  f.events.on('hash-failed', (peers) => hashFailures.push(peers));
  f.events.on('peer-disconnected', (peer, reason) => closed.push([peer, reason]));
  return { from, hashFailures, closed };
}

describe('fetching metadata for a magnet link', () => {
  it('gets the info dictionary from a chunkswarm seeder named by x.pe', async () => {
    const seed = await startSeeder(torrent);
    clients.push(seed.client);
    const { metainfo, peers } = await fetcher([seed.address]).run();
    assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
    assert.equal(metainfo.infoHashHex, torrent.infoHashHex);
    assert.equal(metainfo.name, 'lecture.bin');
    assert.equal(metainfo.pieceCount, 1700);
    assert.deepEqual(peers, [{ ip: '127.0.0.1', port: seed.port }]);
  });

  it('keeps the magnet’s trackers as the torrent’s, each in its own tier', async () => {
    const seed = await startSeeder(torrent);
    clients.push(seed.client);
    const f = new MetadataFetch({
      // Loopback udp trackers that nobody answers: the metadata comes from the peer, the trackers end up in the torrent.
      magnet: magnetOf(torrent, [seed.address], ['udp://127.0.0.1:1/announce', 'udp://127.0.0.1:2/announce']),
      peerId: makePeerId(),
      listenPort: 6999,
    });
    const { metainfo } = await f.run();
    assert.deepEqual(metainfo.announceList, [['udp://127.0.0.1:1/announce'], ['udp://127.0.0.1:2/announce']]);
  });

  it('asks several peers at once', async () => {
    const a = await script('honest');
    const b = await script('honest');
    // Neither answers until both have been asked: the requests must have been spread.
    const gateA = a.hold();
    const gateB = b.hold();
    const f = fetcher([a.address, b.address]);
    const seen = watch(f);
    const result = f.run();
    const both = setInterval(() => {
      if (a.requests.length > 0 && b.requests.length > 0) {
        clearInterval(both);
        gateA.open();
        gateB.open();
      }
    }, 20);
    const { metainfo } = await result;
    clearInterval(both);
    assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
    assert.deepEqual(new Set(seen.from.values()), new Set([a.address, b.address]));
  });

  it('offers ut_pex from its first handshake and fetches from a peer named by PEX (BEP 11)', async () => {
    // libtorrent reads only a peer's first extension handshake for ut_pex: offered later, it never sends one.
    const honest = await script('honest');
    // It offers the metadata but never sends it: the only way to it is the peer it names.
    const pointer = await script('silent');
    pointer.pexNames = [honest.address];
    const f = fetcher([pointer.address]);
    const seen = watch(f);
    const { metainfo } = await f.run();
    assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
    assert.equal(pointer.offeredPex, 1);
    assert.deepEqual(new Set(seen.from.values()), new Set([honest.address]));
  });

  it('asks another peer when one rejects', async () => {
    const rejecting = await script('reject');
    const honest = await script('honest');
    const f = fetcher([rejecting.address, honest.address]);
    const seen = watch(f);
    const { metainfo } = await f.run();
    assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
    assert.ok(rejecting.requests.length > 0, 'the rejecting peer was asked');
    assert.deepEqual(new Set(seen.from.values()), new Set([honest.address]));
  });

  it('asks another peer when one does not answer in time', async () => {
    const silent = await script('silent');
    const honest = await script('honest');
    const gate = honest.hold();
    const f = fetcher([silent.address, honest.address], { requestTimeoutMs: 300 });
    const seen = watch(f);
    const result = f.run();
    // Let the silent peer be asked before the honest one may answer anything.
    const started = setInterval(() => {
      if (silent.requests.length > 0) {
        clearInterval(started);
        gate.open();
      }
    }, 20);
    const { metainfo } = await result;
    clearInterval(started);
    assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
    assert.deepEqual(new Set(seen.from.values()), new Set([honest.address]));
  });

  it('checks the SHA-1: pieces from a lying peer are thrown away and it is found out', async () => {
    const liar = await script('liar');
    const honest = await script('honest');
    const gateL = liar.hold();
    const gateH = honest.hold();
    const f = fetcher([liar.address, honest.address]);
    const seen = watch(f);
    const result = f.run();
    const both = setInterval(() => {
      if (liar.requests.length > 0 && honest.requests.length > 0) {
        clearInterval(both);
        gateL.open();
        gateH.open();
      }
    }, 20);
    const { metainfo, peers } = await result;
    clearInterval(both);
    assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
    // The first attempt mixed both peers' pieces and failed the check.
    assert.ok(seen.hashFailures.length >= 1);
    assert.ok(seen.hashFailures[0]!.includes(liar.address));
    // Whatever was used in the end came from the honest peer alone.
    assert.deepEqual(new Set(seen.from.values()).has(honest.address), true);
    // A banned liar is not handed to the download.
    if (seen.closed.some(([p, why]) => p === liar.address && /does not match the infohash/.test(why)))
      assert.ok(!peers.some((p) => p.port === liar.port));
  });

  it('finds out a peer that sends metadata alone and lies: banned, and the honest one is used', async () => {
    const liar = await script('liar');
    const f = fetcher([liar.address], { timeoutMs: 1500 });
    const seen = watch(f);
    await assert.rejects(f.run(), (err: unknown) => {
      assert.ok(isChunkswarmError(err, 'ETIMEOUT'));
      assert.match(err.message, /failed the infohash check/);
      return true;
    });
    assert.ok(seen.closed.some(([p, why]) => p === liar.address && /does not match the infohash/.test(why)));
  });

  it('copes with peers that disagree about the size', async () => {
    const wrong = await script('wrong-size');
    const honest = await script('honest');
    const f = fetcher([wrong.address, honest.address]);
    const { metainfo } = await f.run();
    assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
  });

  it('gives up after its time limit with a one-line reason', async () => {
    const none = await script('no-metadata');
    const f = fetcher([none.address], { timeoutMs: 1000 });
    const seen = watch(f);
    await assert.rejects(f.run(), (err: unknown) => {
      assert.ok(isChunkswarmError(err, 'ETIMEOUT'));
      assert.equal(
        err.message,
        `no peer sent the metadata of lecture.bin within 1 s (1 peer found, none offered it)`,
      );
      return true;
    });
    assert.ok(seen.closed.some(([, why]) => /does not offer metadata/.test(why)));
  });

  it('refuses metadata that hashes right but is not a usable torrent', async () => {
    // An info dictionary with a file name that would leave the download folder.
    const bad = Buffer.from(
      'd6:lengthi16384e4:name2:..12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae',
    );
    const { createHash } = await import('node:crypto');
    const infoHash = createHash('sha1').update(bad).digest();
    const s = await new ScriptedSeeder(bad, infoHash, 'honest').listen();
    scripted.push(s);
    const f = new MetadataFetch({
      magnet: magnetOf({ infoHash, name: 'evil' }, [s.address]),
      peerId: makePeerId(),
      listenPort: 6999,
      timeoutMs: 5000,
    });
    await assert.rejects(f.run(), (err: unknown) => {
      assert.ok(isChunkswarmError(err));
      assert.notEqual(err.code, 'ETIMEOUT');
      assert.match(err.message, /the torrent of magnet evil is not usable/);
      return true;
    });
  });

  it('refuses metadata larger than its cap without fetching it', async () => {
    const honest = await script('honest');
    const f = new MetadataFetch({
      magnet: magnetOf(torrent, [honest.address]),
      peerId: makePeerId(),
      listenPort: 6999,
      timeoutMs: 1000,
      maxMetadataBytes: 16 * 1024,
    });
    const seen = watch(f);
    await assert.rejects(f.run(), (err: unknown) => isChunkswarmError(err, 'ETIMEOUT'));
    assert.equal(honest.requests.length, 0);
    assert.ok(seen.closed.some(([, why]) => /more than the 16384-byte limit/.test(why)));
  });

  it('stop() ends a fetch at once', async () => {
    const silent = await script('silent');
    const f = fetcher([silent.address], { timeoutMs: 60_000 });
    const result = f.run();
    setTimeout(() => f.stop('interrupted'), 100);
    await assert.rejects(result, /interrupted/);
  });
});

describe('which magnet links can be fetched', () => {
  it('needs an http tracker or an x.pe peer (there is no DHT)', () => {
    const hash = 'ab'.repeat(20);
    const ok = [
      `magnet:?xt=urn:btih:${hash}&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce`,
      `magnet:?xt=urn:btih:${hash}&x.pe=127.0.0.1:1`,
    ];
    for (const uri of ok) checkMagnetSources(parseMagnet(uri));
    assert.throws(
      () => checkMagnetSources(parseMagnet(`magnet:?xt=urn:btih:${hash}&dn=film`)),
      (e: unknown) =>
        isChunkswarmError(e, 'EMAGNET') &&
        /film names no tracker \(tr=\) and no peer \(x\.pe=\)/.test(e.message),
    );
    // UDP trackers (BEP 15) are spoken to; a scheme chunkswarm does not know is not a source.
    checkMagnetSources(parseMagnet(`magnet:?xt=urn:btih:${hash}&tr=udp%3A%2F%2F127.0.0.1%3A1`));
    assert.throws(
      () => checkMagnetSources(parseMagnet(`magnet:?xt=urn:btih:${hash}&tr=wss%3A%2F%2Ftracker.example%2F`)),
      (e: unknown) =>
        isChunkswarmError(e, 'EMAGNET') && /only trackers chunkswarm cannot speak to \(wss:/.test(e.message),
    );
  });

  it('announces to the magnet’s tracker (left: one block, as libtorrent does) and fetches from the peers it names', async () => {
    const seed = await startSeeder(torrent);
    clients.push(seed.client);
    const queries: URLSearchParams[] = [];
    const tracker = createServer((req, res) => {
      queries.push(new URL(req.url ?? '/', 'http://x').searchParams);
      const peer = Buffer.from([127, 0, 0, 1, seed.port >> 8, seed.port & 0xff]);
      res.end(Buffer.concat([Buffer.from('d8:intervali1800e5:peers6:'), peer, Buffer.from('e')]));
    });
    await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', r));
    const port = (tracker.address() as AddressInfo).port;
    try {
      const f = new MetadataFetch({
        magnet: magnetOf(torrent, [], [`http://127.0.0.1:${port}/announce`]),
        peerId: makePeerId(),
        listenPort: 6999,
        timeoutMs: 10_000,
      });
      const { metainfo, peers } = await f.run();
      assert.ok(metainfo.infoBytes.equals(torrent.infoBytes));
      assert.deepEqual(peers, [{ ip: '127.0.0.1', port: seed.port }]);
      const first = queries[0]!;
      assert.equal(first.get('event'), 'started');
      assert.equal(first.get('left'), String(UNKNOWN_LEFT));
      assert.equal(UNKNOWN_LEFT, 16 * 1024);
      assert.equal(first.get('port'), '6999');
    } finally {
      tracker.closeAllConnections();
      await new Promise((r) => tracker.close(r));
    }
  });
});
