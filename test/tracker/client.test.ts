import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { encode } from '../../src/codec/index.js';
import { ChunkswarmError, isChunkswarmError } from '../../src/shared/errors.js';
import { httpGet, mergeAnswers, type TierOutcome, TrackerClient } from '../../src/tracker/client/index.js';
import {
  buildAnnounceUrl,
  MAX_ANNOUNCE_URL_LENGTH,
  parseAnnounceQuery,
} from '../../src/tracker/protocol/index.js';
import { MemorySwarmStore, startTracker, type TrackerHandle } from '../../src/tracker/server/index.js';
import { hash, peerId } from './helpers.js';

/** A port nothing listens on: bound once, then released. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

const isCode = (code: Parameters<typeof isChunkswarmError>[1], msg?: RegExp) => (err: unknown) =>
  isChunkswarmError(err, code) && (msg === undefined || msg.test(err.message));

describe('httpGet', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      switch (req.url) {
        case '/ok':
          res.end('hello');
          break;
        case '/missing':
          res.writeHead(404).end('no');
          break;
        case '/declared-big':
          res.writeHead(200, { 'Content-Length': 2000 }).end(Buffer.alloc(2000));
          break;
        case '/streamed-big':
          res.writeHead(200);
          res.write(Buffer.alloc(600));
          res.end(Buffer.alloc(600));
          break;
        case '/moved':
          res.writeHead(302, { Location: '/ok' }).end();
          break;
        case '/loop':
          res.writeHead(301, { Location: '/loop' }).end();
          break;
        case '/silent':
          break; // never answers
        default:
          res.writeHead(500).end();
      }
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => close(server));

  it('fetches a body, follows redirects', async () => {
    assert.equal((await httpGet(`${base}/ok`)).toString(), 'hello');
    assert.equal((await httpGet(`${base}/moved`)).toString(), 'hello');
  });

  it('fails with a code for every way it can go wrong', async () => {
    await assert.rejects(httpGet(`${base}/missing`), isCode('ETRACKER_RESPONSE', /answered HTTP 404/));
    await assert.rejects(
      httpGet(`${base}/declared-big`, { maxBytes: 1000 }),
      isCode('ETRACKER_RESPONSE', /2000 bytes/),
    );
    await assert.rejects(
      httpGet(`${base}/streamed-big`, { maxBytes: 1000 }),
      isCode('ETRACKER_RESPONSE', /more than 1000/),
    );
    await assert.rejects(httpGet(`${base}/loop`), isCode('ETRACKER_RESPONSE', /redirected too many times/));
    await assert.rejects(httpGet(`${base}/silent`, { timeoutMs: 100 }), isCode('ETIMEOUT'));
    await assert.rejects(
      httpGet(`http://127.0.0.1:${await deadPort()}/x`),
      isCode('ETRACKER_UNREACHABLE', /ECONNREFUSED/),
    );
    await assert.rejects(
      httpGet('udp://127.0.0.1:1/announce'),
      isCode('ETRACKER_UNREACHABLE', /only http and https/),
    );
    await assert.rejects(httpGet('nonsense'), isCode('ETRACKER_UNREACHABLE', /not a valid URL/));
  });

  it('speaks https (loaded on the first https URL): refused, or a server that is not TLS, is a coded error', async () => {
    await assert.rejects(
      httpGet(`https://127.0.0.1:${await deadPort()}/x`),
      isCode('ETRACKER_UNREACHABLE', /ECONNREFUSED/),
    );
    await assert.rejects(httpGet(`${base.replace('http:', 'https:')}/ok`), isChunkswarmError);
  });
});

describe('TrackerClient', () => {
  let t: TrackerHandle;
  let dead: string;
  const client = (tiers: string[][], n: number, extra: { shuffle?: boolean } = {}) =>
    new TrackerClient({
      tiers,
      infoHash: hash(7),
      peerId: peerId(n),
      port: 7000 + n,
      timeoutMs: 5000,
      ...extra,
    });

  before(async () => {
    t = await startTracker({ port: 0 });
    dead = `http://127.0.0.1:${await deadPort()}/announce`;
  });
  after(() => t.close());

  it('announces and finds the other peers', async () => {
    const a = client([[t.announceUrl]], 1);
    const first = await a.announce({ event: 'started', uploaded: 0, downloaded: 0, left: 0 });
    assert.equal(first.url, t.announceUrl);
    assert.equal(first.trackerId, t.trackerId);
    assert.deepEqual(first.peers, []);
    const b = client([[t.announceUrl]], 2);
    const second = await b.announce({ event: 'started', uploaded: 0, downloaded: 0, left: 10 });
    assert.deepEqual(second.peers, [{ ip: '127.0.0.1', port: 7001 }]);
    assert.equal(second.complete, 1);
    assert.equal(second.incomplete, 1);
    const scraped = await b.scrape();
    assert.deepEqual(scraped, { complete: 1, incomplete: 1, downloaded: 0, url: t.announceUrl });
  });

  it('falls back to the next tier when the first refuses connections', async () => {
    const c = client([[dead], [t.announceUrl]], 3);
    const r = await c.announce({ uploaded: 0, downloaded: 0, left: 5 });
    assert.equal(r.url, t.announceUrl);
  });

  it('falls back within a tier and moves the tracker that answered to the front (BEP 12)', async () => {
    const c = client([[dead, t.announceUrl]], 4, { shuffle: false });
    const r = await c.announce({ uploaded: 0, downloaded: 0, left: 5 });
    assert.equal(r.url, t.announceUrl);
    assert.deepEqual(c.tiers, [[t.announceUrl, dead]]);
  });

  it('throws ETRACKER_UNREACHABLE with the last reason when nothing answers', async () => {
    const c = client([[dead], [dead.replace('/announce', '/other/announce')]], 5);
    await assert.rejects(
      c.announce({ uploaded: 0, downloaded: 0, left: 5 }),
      isCode('ETRACKER_UNREACHABLE', /no tracker answered \(last: cannot reach .*ECONNREFUSED/),
    );
    await assert.rejects(c.scrape(), isCode('ETRACKER_UNREACHABLE'));
  });

  it("gives a lone tracker's own reason, which names it, without a summary around it", async () => {
    const c = client([[dead]], 5);
    await assert.rejects(
      c.announceEvery({ uploaded: 0, downloaded: 0, left: 5 }),
      (err: unknown) =>
        isCode('ETRACKER_UNREACHABLE')(err) &&
        (err as Error).message === `cannot reach ${new URL(dead).origin}: connection refused (ECONNREFUSED)`,
    );
  });

  it('says once that no tracker answered, when every tier of announceEvery is down', async () => {
    const c = client([[dead], [dead.replace('/announce', '/other/announce')]], 5);
    const err = await c.announceEvery({ uploaded: 0, downloaded: 0, left: 5 }).then(
      () => assert.fail('a dead tracker answered'),
      (e: unknown) => e,
    );
    assert.ok(isCode('ETRACKER_UNREACHABLE')(err), String(err));
    const message = (err as Error).message;
    assert.equal(message.split('no tracker answered').length - 1, 1, message);
    assert.equal(message.split('ECONNREFUSED').length - 1, 1, message);
  });

  it("reports a tracker's refusal as ETRACKER_FAILURE", async () => {
    const full = await startTracker({ port: 0, store: new MemorySwarmStore({ maxSwarms: 0 }) });
    try {
      const c = client([[dead], [full.announceUrl]], 6);
      await assert.rejects(
        c.announce({ uploaded: 0, downloaded: 0, left: 5 }),
        isCode('ETRACKER_FAILURE', /^tracker said: tracker is full/),
      );
    } finally {
      await full.close();
    }
  });

  it('skips tiers of schemes it cannot speak (wss://) with a warning, and tries udp:// ones', async () => {
    const wss = 'wss://tracker.example/announce';
    const wssOnly = client([[wss]], 7);
    await assert.rejects(
      wssOnly.announce({ uploaded: 0, downloaded: 0, left: 5 }),
      isCode('ETRACKER_UNREACHABLE', /no tracker chunkswarm can speak to \(http, https or udp\) in: wss:/),
    );
    const udpDead = 'udp://127.0.0.1:1/announce';
    const mixed = client([[wss], [t.announceUrl], [dead], [udpDead]], 8);
    const outcomes = await mixed.announceAll({ uploaded: 0, downloaded: 0, left: 5 });
    assert.equal(outcomes.length, 4);
    assert.deepEqual(outcomes[0], {
      status: 'skipped',
      tier: 0,
      warning: `no tracker chunkswarm can speak to (http, https or udp) in: ${wss}`,
    });
    assert.equal(outcomes[1]!.status, 'fulfilled');
    assert.equal(outcomes[1]!.status === 'fulfilled' && outcomes[1]!.value.url, t.announceUrl);
    for (const o of outcomes.slice(2)) {
      assert.ok(o.status === 'rejected' && isChunkswarmError(o.reason, 'ETRACKER_UNREACHABLE'));
    }
    // The udp tier was asked, not skipped: its error names the tracker.
    assert.ok(
      outcomes[3]!.status === 'rejected' && outcomes[3]!.reason.message.includes('udp://127.0.0.1:1'),
    );
    // announce() passes over the wss tier to the http one.
    assert.equal((await mixed.announce({ uploaded: 0, downloaded: 0, left: 5 })).url, t.announceUrl);
  });

  it('announces to every tier at once and merges the peers each tracker knows', async () => {
    const other = await startTracker({ port: 0, interval: 600 });
    try {
      // One peer known only to `t`, one only to `other`, one to both.
      const only = (url: string, n: number) =>
        new TrackerClient({ tiers: [[url]], infoHash: hash(19), peerId: peerId(n), port: 7200 + n });
      await only(t.announceUrl, 1).announce({ uploaded: 0, downloaded: 0, left: 0 });
      await only(other.announceUrl, 2).announce({ uploaded: 0, downloaded: 0, left: 0 });
      await only(t.announceUrl, 3).announce({ uploaded: 0, downloaded: 0, left: 0 });
      await only(other.announceUrl, 3).announce({ uploaded: 0, downloaded: 0, left: 0 });
      const c = new TrackerClient({
        tiers: [[t.announceUrl], [dead], [other.announceUrl]],
        infoHash: hash(19),
        peerId: peerId(4),
        port: 7204,
      });
      const r = await c.announceEvery({ uploaded: 0, downloaded: 0, left: 5 });
      assert.equal(r.url, t.announceUrl);
      assert.deepEqual(
        r.peers.map((p) => p.port).sort(),
        [7201, 7202, 7203],
        'every peer once, from both trackers',
      );
      // `announce` stops at the first tier that answers.
      const firstOnly = await c.announce({ uploaded: 0, downloaded: 0, left: 5 });
      assert.deepEqual(firstOnly.peers.map((p) => p.port).sort(), [7201, 7203]);
      const none = new TrackerClient({
        tiers: [[dead], ['udp://127.0.0.1:1/announce']],
        infoHash: hash(19),
        peerId: peerId(5),
        port: 7205,
      });
      await assert.rejects(
        none.announceEvery({ uploaded: 0, downloaded: 0, left: 5 }),
        isCode('ETRACKER_UNREACHABLE', /no tracker answered/),
      );
    } finally {
      await other.close();
    }
  });

  it("sends chunk status and reads the other peers' status", async () => {
    const tiers = [[t.announceUrl]];
    const a = new TrackerClient({ tiers, infoHash: hash(8), peerId: peerId(1), port: 7101 });
    await a.announce({
      uploaded: 3,
      downloaded: 4,
      left: 100,
      chunks: { pieces: 10, bitfield: Buffer.from([0b1110_0000, 0]), name: 'lecture.mp4' },
    });
    const b = new TrackerClient({ tiers, infoHash: hash(8), peerId: peerId(2), port: 7102 });
    const r = await b.announce({
      uploaded: 0,
      downloaded: 0,
      left: 200,
      chunks: { pieces: 10, have: 0, wantStatus: true },
    });
    assert.equal(r.peers.length, 1);
    const p = r.peers[0]!;
    assert.deepEqual(p.peerId, peerId(1));
    assert.equal(p.status?.have, 3);
    assert.deepEqual(p.status?.bitfield, Buffer.from([0b1110_0000, 0]));
    assert.equal(p.status?.uploaded, 3);
    assert.equal(p.status?.left, 100);
    assert.equal(p.status?.seeder, false);
    assert.equal((await b.scrape()).name, 'lecture.mp4');
  });

  it('gets a bitfield near the URL budget through the server, and sends a count past it', async () => {
    const tiers = [[t.announceUrl]];
    const big = (pieces: number) => {
      const bits = Buffer.alloc(Math.ceil(pieces / 8), 0x55);
      return { pieces, bitfield: bits };
    };
    const nearLimit = big(43_000);
    const url = buildAnnounceUrl(t.announceUrl, {
      infoHash: hash(9),
      peerId: peerId(1),
      port: 1,
      uploaded: 0,
      downloaded: 0,
      left: 1,
      key: 'ABCDEF12',
      chunks: nearLimit,
    });
    assert.ok(url.includes('cs_bitfield=') && url.length > 7300 && url.length <= MAX_ANNOUNCE_URL_LENGTH);
    const a = new TrackerClient({ tiers, infoHash: hash(9), peerId: peerId(1), port: 7201 });
    await a.announce({ uploaded: 0, downloaded: 0, left: 1, chunks: nearLimit });
    const b = new TrackerClient({ tiers, infoHash: hash(10), peerId: peerId(2), port: 7202 });
    await b.announce({ uploaded: 0, downloaded: 0, left: 1, chunks: big(80_000) });
    const reader = (h: number) =>
      new TrackerClient({ tiers, infoHash: hash(h), peerId: peerId(3), port: 7203 }).announce({
        uploaded: 0,
        downloaded: 0,
        left: 1,
        chunks: { pieces: 1, have: 0, wantStatus: true },
      });
    const near = (await reader(9)).peers[0]!.status!;
    assert.deepEqual(near.bitfield, nearLimit.bitfield);
    assert.equal(near.have, 43_000 / 2);
    const past = (await reader(10)).peers[0]!.status!;
    assert.equal(past.bitfield, undefined);
    assert.equal(past.have, 40_000);
  });

  it('sends back the tracker id it was given, and a stable key', async () => {
    const seen: string[] = [];
    const fake = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end(encode({ interval: 60, peers: Buffer.alloc(0), 'tracker id': 'abc123' }));
    });
    const port = await listen(fake);
    try {
      const c = client([[`http://127.0.0.1:${port}/announce?passkey=p1`]], 9);
      await c.announce({ event: 'started', uploaded: 0, downloaded: 0, left: 1 });
      await c.announce({ uploaded: 0, downloaded: 0, left: 1 });
      const [first, second] = seen.map((u) => parseAnnounceQuery(u.slice(u.indexOf('?') + 1), '127.0.0.1'));
      assert.ok(seen.every((u) => u.startsWith('/announce?passkey=p1&info_hash=')));
      assert.equal(first!.trackerId, undefined);
      assert.equal(first!.event, 'started');
      assert.equal(second!.trackerId, 'abc123');
      assert.ok(first!.key && first!.key === second!.key);
      assert.deepEqual(second!.infoHash, hash(7));
      assert.equal(second!.port, 7009);
    } finally {
      await close(fake);
    }
  });

  it('checks its options', () => {
    assert.throws(
      () => new TrackerClient({ tiers: [], infoHash: Buffer.alloc(3), peerId: peerId(1), port: 1 }),
      /infohash/,
    );
    assert.throws(
      () => new TrackerClient({ tiers: [], infoHash: hash(1), peerId: peerId(1), port: 0 }),
      /port/,
    );
  });

  it('says so when a torrent has no tracker', async () => {
    const c = client([], 10);
    await assert.rejects(
      c.announce({ uploaded: 0, downloaded: 0, left: 1 }),
      isCode('ETRACKER_UNREACHABLE', /no tracker/),
    );
  });
});

describe('mergeAnswers', () => {
  const answer = (
    url: string,
    fields: Partial<Extract<TierOutcome, { status: 'fulfilled' }>['value']>,
  ): TierOutcome => ({
    status: 'fulfilled',
    tier: 0,
    value: { url, interval: 1800, peers: [], ...fields },
  });

  it('returns the only answer as it is', () => {
    const only = answer('http://a/announce', { interval: 60, peers: [{ ip: '10.0.0.1', port: 1 }] });
    assert.equal(
      mergeAnswers([only], [['http://a/announce']]),
      only.status === 'fulfilled' ? only.value : undefined,
    );
  });

  it('keeps each address once, the largest counts, every warning, and an interval every tracker accepts', () => {
    const merged = mergeAnswers(
      [
        answer('http://a/announce', {
          interval: 300,
          minInterval: 60,
          complete: 4,
          warning: 'slow down',
          peers: [
            { ip: '10.0.0.1', port: 1 },
            { ip: '10.0.0.2', port: 2 },
          ],
        }),
        { status: 'rejected', tier: 1, reason: new ChunkswarmError('ETRACKER_UNREACHABLE', 'down') },
        answer('http://b/announce', {
          interval: 1800,
          minInterval: 900,
          complete: 9,
          incomplete: 0,
          warning: 'old client',
          peers: [
            { ip: '10.0.0.2', port: 2 },
            { ip: '10.0.0.2', port: 3 },
          ],
        }),
      ],
      [],
    );
    assert.equal(merged.url, 'http://a/announce');
    // a says 4 seeders and no leecher count, b says 9 seeders and 0 leechers.
    assert.equal(merged.complete, 9);
    assert.equal(merged.incomplete, 0);
    assert.deepEqual(
      merged.peers.map((p) => `${p.ip}:${p.port}`),
      ['10.0.0.1:1', '10.0.0.2:2', '10.0.0.2:3'],
    );
    // a's 300 s would be under b's min interval of 900 s
    assert.equal(merged.interval, 900);
    assert.equal(merged.warning, 'http://a/announce: slow down; http://b/announce: old client');
  });

  it('a tracker that knows no leecher does not hide the leechers another one knows', () => {
    const merged = mergeAnswers(
      [
        answer('http://a/announce', { complete: 1, incomplete: 0 }),
        answer('http://b/announce', { complete: 1, incomplete: 3 }),
      ],
      [],
    );
    assert.equal(merged.incomplete, 3);
  });

  it("throws a tracker's refusal over a network error when nothing answered", () => {
    assert.throws(
      () =>
        mergeAnswers(
          [
            {
              status: 'rejected',
              tier: 0,
              reason: new ChunkswarmError('ETRACKER_FAILURE', 'tracker said: no'),
            },
            { status: 'rejected', tier: 1, reason: new ChunkswarmError('ETRACKER_UNREACHABLE', 'down') },
          ],
          [],
        ),
      isCode('ETRACKER_FAILURE', /no/),
    );
    assert.throws(
      () => mergeAnswers([{ status: 'skipped', tier: 0, warning: 'wss' }], [['wss://x/announce']]),
      isCode('ETRACKER_UNREACHABLE', /no tracker chunkswarm can speak to .*wss:\/\/x\/announce/),
    );
  });
});
