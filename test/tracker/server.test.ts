import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../../src/shared/clock.js';
import { LIMITS } from '../../src/shared/limits.js';
import { encodeBytes, parseAnnounceResponse, parseScrapeResponse } from '../../src/tracker/protocol/index.js';
import {
  MemorySwarmStore,
  peerKey,
  startTracker,
  type TrackerEvent,
  type TrackerHandle,
} from '../../src/tracker/server/index.js';
import { announceQuery, dict, failureOf, hash, httpGet, peerId, rawExchange } from './helpers.js';

for (const layer of ['handles', 'net'] as const) {
  describe(`tracker server (${layer} sockets)`, () => {
    let t: TrackerHandle;
    const events: TrackerEvent[] = [];
    const get = (path: string, method?: string) => httpGet('127.0.0.1', t.port, path, method);
    const announce = async (h: number, n: number, extra = '') => {
      const { status, body } = await get(`/announce?${announceQuery(h, n, extra)}`);
      assert.equal(status, 200);
      return { body, r: parseAnnounceResponse(body) };
    };
    const ports = (peers: { port: number }[]) => peers.map((p) => p.port).sort((a, b) => a - b);

    before(async () => {
      t = await startTracker({ socketLayer: layer, port: 0, interval: 120, onEvent: (e) => events.push(e) });
    });
    after(() => t.close());

    it('listens on loopback and names its URLs', () => {
      assert.equal(t.host, '127.0.0.1');
      assert.ok(t.port > 0);
      assert.equal(t.announceUrl, `http://127.0.0.1:${t.port}/announce`);
      assert.equal(t.scrapeUrl, `http://127.0.0.1:${t.port}/scrape`);
    });

    it('started, completed and stopped move peers and counts', async () => {
      const a = await announce(1, 1, '&left=100&event=started');
      assert.deepEqual(a.r.peers, []);
      assert.equal(a.r.incomplete, 1);
      assert.equal(a.r.complete, 0);
      assert.equal(a.r.interval, 120);
      assert.equal(a.r.minInterval, 60);
      assert.equal(a.r.trackerId, t.trackerId);
      assert.equal(events.at(-1)?.type, 'announce');

      const b = await announce(1, 2, '&left=100&event=started');
      assert.deepEqual(b.r.peers, [{ ip: '127.0.0.1', port: 6001 }]);

      // Peer 1 finishes: counted once, however many times it says so.
      const done = await announce(1, 1, '&left=0&event=completed');
      assert.equal(done.r.complete, 1);
      assert.equal(done.r.incomplete, 1);
      await announce(1, 1, '&left=0&event=completed');
      const scraped = parseScrapeResponse((await get(`/scrape?info_hash=${encodeBytes(hash(1))}`)).body);
      assert.deepEqual(scraped.get(hash(1).toString('hex')), { complete: 1, incomplete: 1, downloaded: 1 });

      // A second seeder asks: it gets the leecher only, never the other seeder.
      const c = await announce(1, 3, '&left=0&event=started');
      assert.deepEqual(ports(c.r.peers), [6002]);
      // The leecher gets both seeders.
      const again = await announce(1, 2, '&left=50');
      assert.deepEqual(ports(again.r.peers), [6001, 6003]);
      assert.equal(again.r.complete, 2);

      // A re-announce from the same peer id and address on a new port updates the peer.
      const moved = await get(
        `/announce?info_hash=${encodeBytes(hash(1))}&peer_id=${encodeBytes(peerId(2))}&port=7777&left=40`,
      );
      assert.equal(parseAnnounceResponse(moved.body).incomplete, 1);
      const seen = await announce(1, 1, '&left=0');
      assert.deepEqual(ports(seen.r.peers), [7777]);

      const stop = await announce(1, 1, '&left=0&event=stopped');
      assert.deepEqual(stop.r.peers, []);
      assert.equal(stop.r.complete, 1);
      const after = await announce(1, 2, '&left=40');
      assert.deepEqual(ports(after.r.peers), [6003]);
    });

    it('caps numwant with a warning, honours smaller ones and numwant=0', async () => {
      for (let n = 1; n <= 5; n++) await announce(2, n);
      const big = await announce(2, 6, '&numwant=5000');
      assert.equal(big.r.warning, `numwant capped at ${LIMITS.trackerMaxNumwant}`);
      assert.equal(big.r.peers.length, 5);
      assert.equal((await announce(2, 6, '&numwant=2')).r.peers.length, 2);
      const none = await announce(2, 6, '&numwant=0');
      assert.equal(none.r.peers.length, 0);
      assert.equal(none.r.warning, undefined);
      assert.equal(none.r.incomplete, 6);
    });

    it('answers compact=0 with peer dictionaries, and cs_status with chunk status', async () => {
      const bits = Buffer.from([0b1100_0000]).toString('base64url');
      await announce(3, 1, `&left=10&cs_pieces=4&cs_bitfield=${bits}&cs_name=demo.bin&uploaded=7`);
      await announce(3, 2, '&left=0');
      const plain = await announce(3, 3, '&compact=0');
      assert.ok(Array.isArray(dict(plain.body).get('peers')));
      assert.deepEqual(plain.r.peers.map((p) => p.peerId?.toString('latin1')).sort(), [
        peerId(1).toString('latin1'),
        peerId(2).toString('latin1'),
      ]);
      const anon = await announce(3, 3, '&compact=0&no_peer_id=1');
      assert.ok(anon.r.peers.every((p) => p.peerId === undefined));

      const status = await announce(3, 3, '&cs_status=1');
      const byPort = new Map(status.r.peers.map((p) => [p.port, p.status]));
      assert.deepEqual(byPort.get(6001)?.bitfield, Buffer.from([0b1100_0000]));
      assert.equal(byPort.get(6001)?.have, 2);
      assert.equal(byPort.get(6001)?.pieces, 4);
      assert.equal(byPort.get(6001)?.uploaded, 7);
      assert.equal(byPort.get(6001)?.seeder, false);
      // The other client sent only left=0: a seeder holding all 4 chunks the swarm has.
      assert.equal(byPort.get(6002)?.seeder, true);
      assert.equal(byPort.get(6002)?.have, 4);
      const scraped = parseScrapeResponse((await get(`/scrape?info_hash=${encodeBytes(hash(3))}`)).body);
      assert.equal(scraped.get(hash(3).toString('hex'))?.name, 'demo.bin');
    });

    it('scrapes one, many and all swarms', async () => {
      await announce(4, 1, '&left=0');
      await announce(5, 1);
      const one = parseScrapeResponse((await get(`/scrape?info_hash=${encodeBytes(hash(4))}`)).body);
      assert.deepEqual([...one.keys()], [hash(4).toString('hex')]);
      const many = parseScrapeResponse(
        (
          await get(
            `/scrape?info_hash=${encodeBytes(hash(4))}&info_hash=${encodeBytes(hash(5))}&info_hash=${encodeBytes(hash(99))}`,
          )
        ).body,
      );
      assert.deepEqual(many.get(hash(4).toString('hex')), { complete: 1, incomplete: 0, downloaded: 0 });
      assert.deepEqual(many.get(hash(5).toString('hex')), { complete: 0, incomplete: 1, downloaded: 0 });
      assert.deepEqual(many.get(hash(99).toString('hex')), { complete: 0, incomplete: 0, downloaded: 0 });
      const all = parseScrapeResponse((await get('/scrape')).body);
      for (const h of [1, 2, 3, 4, 5])
        assert.ok(all.has(hash(h).toString('hex')), `swarm ${h} in full scrape`);
      assert.equal(events.at(-1)?.type, 'scrape');
    });

    it('answers hostile requests with a failure reason and keeps serving', async () => {
      const cases: [string, RegExp][] = [
        ['/announce', /^missing info_hash$/],
        ['/announce?%%%&&&===', /percent-encoding/],
        ['/announce?&&=&garbage', /^missing info_hash$/],
        [
          `/announce?${announceQuery(6, 1, '&uploaded=123456789012345678901234567890')}`,
          /^invalid uploaded$/,
        ],
        [`/announce?${announceQuery(6, 1, '&left=-1')}`, /^invalid left$/],
        [`/announce?${announceQuery(6, 1).replace('port=6001', 'port=99999999')}`, /^invalid port$/],
        [
          `/announce?info_hash=%g4${'a'.repeat(19)}&peer_id=x&port=1`,
          /^invalid percent-encoding in info_hash$/,
        ],
        [`/announce?${announceQuery(6, 1)}&x=${'y'.repeat(20_000)}`, /^request too large/],
        ['/scrape?info_hash=short', /^info_hash must be 20 bytes$/],
      ];
      for (const [path, reason] of cases) {
        let res: { status: number; body: Buffer };
        try {
          res = await get(path);
        } catch (err) {
          assert.fail(`${path.slice(0, 40)}: ${String(err)}`);
        }
        assert.equal(res.status, 200, path.slice(0, 60));
        assert.match(failureOf(res.body) ?? '', reason, path.slice(0, 60));
      }
      const post = await get(`/announce?${announceQuery(6, 1)}`, 'POST');
      assert.equal(failureOf(post.body), 'use GET for /announce');
      const garbage = await rawExchange(t.port, 'THIS IS NOT HTTP\r\n\r\n');
      assert.match(garbage, /^HTTP\/1\.1 200 OK\r\n[\s\S]*d14:failure reason22:malformed HTTP requeste$/);
      const control = await rawExchange(t.port, 'GET /announce?\x01\x02 HTTP/1.1\r\n\r\n');
      assert.match(control, /failure reason/);
      const rawByte = await rawExchange(
        t.port,
        `GET /announce?info_hash=${'\xff'.repeat(20)} HTTP/1.1\r\n\r\n`,
      );
      assert.match(rawByte, /failure reason/);
      assert.ok(events.some((e) => e.type === 'failure'));
      // Still serving.
      assert.equal((await announce(6, 2)).r.incomplete, 1);
    });

    it('answers other paths with 404, or hands them to the extra handler', async () => {
      const miss = await get('/');
      assert.equal(miss.status, 404);
      t.setExtraHandler((req, res) => {
        if (req.url !== '/') return false;
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<p>tracker</p>');
        return true;
      });
      assert.equal((await get('/')).body.toString(), '<p>tracker</p>');
      assert.equal((await get('/other')).status, 404);
      t.setExtraHandler((_req, _res) => {
        throw new Error('page bug');
      });
      const broken = await get('/');
      assert.equal(broken.status, 200);
      assert.equal(failureOf(broken.body), 'internal tracker error');
      t.setExtraHandler(undefined);
    });
  });

  describe(`tracker server options (${layer} sockets)`, () => {
    it('expires peers silent for two intervals on its timer', async () => {
      const clock = new FakeClock(1_700_000_000_000);
      const events: TrackerEvent[] = [];
      const t = await startTracker({
        socketLayer: layer,
        port: 0,
        interval: 60,
        clock,
        onEvent: (e) => events.push(e),
      });
      try {
        const get = (q: string) =>
          httpGet('127.0.0.1', t.port, `/announce?${q}`).then((r) => parseAnnounceResponse(r.body));
        await get(announceQuery(1, 1));
        clock.advance(60_000);
        await get(announceQuery(1, 2));
        assert.equal((await get(announceQuery(1, 3, '&numwant=0'))).incomplete, 3);
        // At 120 s peer 1 is exactly two intervals old: still in.
        clock.advance(60_000);
        assert.equal(t.store.stats(hash(1).toString('hex')).incomplete, 3);
        // At 180 s it is past them; peers 2 and 3 (seen at 60 s) are exactly two intervals old.
        clock.advance(60_000);
        assert.deepEqual(
          events.filter((e) => e.type === 'expire'),
          [{ type: 'expire', removed: 1 }],
        );
        const r = await get(announceQuery(1, 3));
        assert.deepEqual(r.peers, [{ ip: '127.0.0.1', port: 6002 }]);
        assert.equal(r.incomplete, 2);
      } finally {
        await t.close();
      }
    });

    it('expireNow expires on demand, and stale peers are not handed out before that', async () => {
      const fake = new FakeClock(1_000_000);
      // A clock whose timers never fire: only expireNow can remove anyone.
      const clock = {
        now: () => fake.now(),
        setInterval: () => () => {},
        setTimeout: () => () => {},
        defer: () => {},
      };
      const t = await startTracker({ socketLayer: layer, port: 0, interval: 10, clock });
      try {
        const get = (q: string) =>
          httpGet('127.0.0.1', t.port, `/announce?${q}`).then((r) => parseAnnounceResponse(r.body));
        await get(announceQuery(1, 1));
        fake.advance(21_000);
        const r = await get(announceQuery(1, 2));
        assert.deepEqual(r.peers, [], 'a peer silent for more than two intervals is not handed out');
        assert.equal(r.incomplete, 2, 'but it is counted until it is expired');
        assert.equal(t.expireNow(), 1);
        assert.equal(t.store.stats(hash(1).toString('hex')).incomplete, 1);
        assert.equal(t.expireNow(), 0);
      } finally {
        await t.close();
      }
    });

    it('refuses new peers beyond the per-swarm cap and new swarms beyond the swarm cap', async () => {
      const store = new MemorySwarmStore({ maxPeersPerSwarm: 2, maxSwarms: 1 });
      const t = await startTracker({ socketLayer: layer, port: 0, store });
      try {
        const get = (q: string) => httpGet('127.0.0.1', t.port, `/announce?${q}`).then((r) => r.body);
        assert.equal(failureOf(await get(announceQuery(1, 1))), undefined);
        assert.equal(failureOf(await get(announceQuery(1, 2))), undefined);
        assert.equal(failureOf(await get(announceQuery(1, 3))), 'swarm is full: 2 peers already');
        // Known peers keep announcing.
        assert.equal(failureOf(await get(announceQuery(1, 2, '&left=0'))), undefined);
        assert.match(failureOf(await get(announceQuery(2, 1))) ?? '', /^tracker is full/);
      } finally {
        await t.close();
      }
      // The tracker leaves a store it did not create open.
      assert.equal(store.stats(hash(1).toString('hex')).incomplete, 1);
    });

    it('honours the ip parameter only when told to trust it', async () => {
      const trusting = await startTracker({ socketLayer: layer, port: 0, trustIpParam: true });
      const plain = await startTracker({ socketLayer: layer, port: 0 });
      try {
        for (const [t, want] of [
          [trusting, '10.9.8.7'],
          [plain, '127.0.0.1'],
        ] as const) {
          await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(1, 1, '&ip=10.9.8.7')}`);
          const r = parseAnnounceResponse(
            (await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(1, 2)}`)).body,
          );
          assert.deepEqual(r.peers, [{ ip: want, port: 6001 }]);
        }
      } finally {
        await Promise.all([trusting.close(), plain.close()]);
      }
    });

    it('serves IPv6 peers in peers6 when it listens on ::1', async () => {
      const t = await startTracker({ socketLayer: layer, host: '::1', port: 0 });
      try {
        assert.equal(t.announceUrl, `http://[::1]:${t.port}/announce`);
        await httpGet('::1', t.port, `/announce?${announceQuery(1, 1)}`);
        const { body } = await httpGet('::1', t.port, `/announce?${announceQuery(1, 2)}`);
        assert.equal((dict(body).get('peers6') as Buffer).length, 18);
        assert.deepEqual(parseAnnounceResponse(body).peers, [{ ip: '::1', port: 6001 }]);
      } finally {
        await t.close();
      }
    });

    it('cuts off a request that never finishes arriving', async () => {
      const t = await startTracker({ socketLayer: layer, port: 0, requestTimeoutMs: 200 });
      try {
        const reply = await rawExchange(t.port, 'GET /announce?info_hash=');
        assert.match(reply, /request took too long to arrive/);
        assert.equal((await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(1, 1)}`)).status, 200);
      } finally {
        await t.close();
      }
    });

    it('hands other requests to node:http, bytes and all, with keep-alive', async () => {
      const t = await startTracker({ socketLayer: layer, port: 0 });
      t.setExtraHandler((req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end(`${req.method} ${req.url} [${Buffer.concat(parts).toString()}]`);
        });
        return true;
      });
      try {
        // The request line in pieces, a body in the first packet, then a pipelined announce.
        const reply = await new Promise<string>((resolve, reject) => {
          const sock = connect(t.port, '127.0.0.1');
          let got = '';
          sock.on('data', (c: Buffer) => {
            got += c.toString('latin1');
          });
          sock.on('error', reject);
          sock.on('close', () => resolve(got));
          const pieces = [
            'PO',
            'ST /up',
            'load HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel',
            'lo',
            'GET /page HTTP/1.1\r\nHost: x\r\n\r\n',
            `GET /announce?${announceQuery(1, 1)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
          ];
          let i = 0;
          const next = () => {
            if (i < pieces.length) sock.write(pieces[i++]!, () => setTimeout(next, 20));
          };
          next();
        });
        assert.match(reply, /POST \/upload \[hello\]/);
        assert.match(reply, /GET \/page \[\]/);
        // A later announce on the kept-alive connection is answered by the same tracker.
        assert.match(reply, /d8:completei0e10:incompletei1e8:intervali1800e/);
        assert.equal(reply.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
      } finally {
        await t.close();
      }
    });

    it('cuts off a handed-over request whose headers never end', async () => {
      const t = await startTracker({ socketLayer: layer, port: 0, requestTimeoutMs: 200 });
      try {
        const reply = await rawExchange(t.port, 'GET /page HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        assert.match(reply, /request took too long to arrive/);
      } finally {
        await t.close();
      }
    });

    it('closes new connections at once while too many requests are still arriving', async () => {
      const t = await startTracker({
        socketLayer: layer,
        port: 0,
        maxPendingConnections: 3,
        requestTimeoutMs: 300,
      });
      try {
        const slow = [1, 2, 3].map(() => rawExchange(t.port, 'GET /announce?info_hash='));
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(await rawExchange(t.port, `GET /announce?${announceQuery(1, 1)} HTTP/1.1\r\n\r\n`), '');
        for (const reply of await Promise.all(slow)) assert.match(reply, /request took too long to arrive/);
        // Once they are cut off, requests are served again.
        assert.equal((await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(1, 1)}`)).status, 200);
      } finally {
        await t.close();
      }
    });

    it('counts connections that send nothing as waiting, and closes them without a word in time', async () => {
      const t = await startTracker({
        socketLayer: layer,
        port: 0,
        maxPendingConnections: 2,
        requestTimeoutMs: 300,
      });
      try {
        const silent = [1, 2].map(() => rawExchange(t.port, ''));
        await new Promise((r) => setTimeout(r, 100));
        // Two silent connections fill the waiting room: a third connection is closed at once.
        assert.equal(await rawExchange(t.port, `GET /announce?${announceQuery(1, 1)} HTTP/1.1\r\n\r\n`), '');
        // A connection that said nothing gets nothing: it is closed when its time is up.
        assert.deepEqual(await Promise.all(silent), ['', '']);
        assert.equal((await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(1, 1)}`)).status, 200);
      } finally {
        await t.close();
      }
    });

    it('keeps a status answer under the 1 MiB its clients read', async () => {
      const t = await startTracker({ socketLayer: layer, port: 0 });
      try {
        const h = hash(9).toString('hex');
        const pieces = 40_000;
        for (let n = 1; n <= 200; n++) {
          const id = peerId(n);
          const rec = {
            key: peerKey(id, '127.0.0.1'),
            ip: '127.0.0.1',
            port: 6000 + n,
            peerId: id,
            uploaded: 0,
            downloaded: 0,
            left: 1,
            pieces,
            bitfield: Buffer.alloc(pieces / 8, n),
            lastSeen: Date.now(),
          };
          t.store.announce(h, rec, undefined, Date.now());
        }
        const { body } = await httpGet(
          '127.0.0.1',
          t.port,
          `/announce?${announceQuery(9, 999, '&cs_status=1&numwant=200')}`,
        );
        assert.ok(body.length < 1024 * 1024, `${body.length} bytes`);
        const r = parseAnnounceResponse(body);
        assert.ok(r.peers.length > 100 && r.peers.length < 200, `${r.peers.length} peers`);
        assert.equal(r.warning, `peer list shortened to ${r.peers.length} to keep the answer under 1 MiB`);
        assert.ok(r.peers.every((p) => p.status?.bitfield?.length === pieces / 8));
        // Without status the same swarm gives all 200.
        const plain = await httpGet(
          '127.0.0.1',
          t.port,
          `/announce?${announceQuery(9, 999, '&numwant=200')}`,
        );
        assert.equal(parseAnnounceResponse(plain.body).peers.length, 200);
      } finally {
        await t.close();
      }
    });

    it('tells its owner of requests refused before they were parsed', async () => {
      const events: TrackerEvent[] = [];
      const t = await startTracker({ socketLayer: layer, port: 0, onEvent: (e) => events.push(e) });
      try {
        const reply = await rawExchange(t.port, `GET /announce?${'a'.repeat(9000)} HTTP/1.1\r\n\r\n`);
        assert.match(reply, /request too large \(the limit is 8192 bytes\)/);
        assert.deepEqual(events, [
          {
            type: 'failure',
            ip: '127.0.0.1',
            path: '',
            reason: 'request too large (the limit is 8192 bytes)',
          },
        ]);
      } finally {
        await t.close();
      }
    });

    it('says plainly when its port is taken, and frees its port on close', async () => {
      const a = await startTracker({ socketLayer: layer, port: 0 });
      await assert.rejects(startTracker({ socketLayer: layer, port: a.port }), {
        code: 'EADDRINUSE',
        message: `cannot listen on 127.0.0.1:${a.port}: port ${a.port} is already in use; choose another port (0 picks a free one)`,
      });
      await a.close();
      const b = await startTracker({ socketLayer: layer, port: a.port });
      assert.equal(b.port, a.port);
      await b.close();
    });

    it('rejects a bad interval', async () => {
      await assert.rejects(startTracker({ socketLayer: layer, port: 0, interval: 0 }), /interval/);
    });
  });
}
