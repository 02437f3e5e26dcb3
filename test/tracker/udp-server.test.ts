/**
 * The tracker's UDP side (BEP 15), on loopback: chunkswarm's own UDP client (udpAnnounce,
 * udpScrape) as the peers, raw datagrams for what a client never sends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../../src/shared/clock.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { udpAnnounce, udpScrape } from '../../src/tracker/client/index.js';
import {
  encodeBytes,
  encodeUdpAnnounceRequest,
  encodeUdpConnectRequest,
  parseAnnounceResponse,
  parseScrapeResponse,
  UDP_PROTOCOL_ID,
} from '../../src/tracker/protocol/index.js';
import {
  ConnectionIds,
  startTracker,
  type TrackerEvent,
  type TrackerHandle,
} from '../../src/tracker/server/index.js';
import { announceQuery, hash, httpGet, peerId } from './helpers.js';

/** Short waits: every exchange here is on loopback, where nothing is lost. */
const FAST = { timeoutMs: 5000, tries: 2 } as const;

const params = (h: number, n: number, more: Partial<Parameters<typeof udpAnnounce>[1]> = {}) => ({
  infoHash: hash(h),
  peerId: peerId(n),
  port: 6000 + n,
  uploaded: 0,
  downloaded: 0,
  left: 100,
  key: n,
  ...more,
});

const ports = (peers: readonly { port: number }[]) => peers.map((p) => p.port).sort((a, b) => a - b);

/** A bare UDP socket: sends what it is told and keeps every reply, in order. */
class Raw {
  readonly replies: Buffer[] = [];
  readonly #waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.on('message', (m) => {
      this.replies.push(m);
      for (const w of [...this.#waiters]) w();
    });
  }

  static async open(family: 4 | 6 = 4): Promise<Raw> {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((r) => socket.bind(0, family === 6 ? '::1' : '127.0.0.1', r));
    return new Raw(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(packet: Buffer, port: number, host = '127.0.0.1'): void {
    this.socket.send(packet, port, host);
  }

  /** Waits (bounded) for a reply carrying `transactionId`; fails the test if none comes. */
  reply(transactionId: number, timeoutMs = 5000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const find = () => this.replies.find((r) => r.length >= 8 && r.readUInt32BE(4) === transactionId);
      const check = () => {
        const r = find();
        if (r === undefined) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`no reply with transaction id ${transactionId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Connect (BEP 15 step one) and return the connection id the tracker gave this socket. Asked
   * again, as a client would, while unanswered: a flood may fill a socket buffer.
   */
  async connect(port: number, host = '127.0.0.1', transactionId = 0x5eed): Promise<bigint> {
    let r: Buffer | undefined;
    for (let i = 0; r === undefined; i++) {
      this.send(encodeUdpConnectRequest(transactionId), port, host);
      r = await this.reply(transactionId, 500).catch((err: unknown) => {
        if (i >= 9) throw err;
        return undefined;
      });
    }
    assert.equal(r.length, 16);
    assert.equal(r.readUInt32BE(0), 0, 'connect reply');
    return r.readBigUInt64BE(8);
  }

  close(): void {
    this.socket.close();
  }
}

function announcePacket(connectionId: bigint, transactionId: number, h: number, n: number): Buffer {
  return encodeUdpAnnounceRequest({
    connectionId,
    transactionId,
    infoHash: hash(h),
    peerId: peerId(n),
    downloaded: 0,
    left: 100,
    uploaded: 0,
    event: 'started',
    key: 1,
    port: 6000 + n,
  });
}

const isTrackerFailure = (msg: RegExp) => (err: unknown) =>
  isChunkswarmError(err, 'ETRACKER_FAILURE') && msg.test(err.message);

describe('tracker over UDP (BEP 15)', () => {
  let t: TrackerHandle;
  let url: string;
  const events: TrackerEvent[] = [];

  before(async () => {
    t = await startTracker({ port: 0, interval: 120, onEvent: (e) => events.push(e) });
    assert.ok(t.udpAnnounceUrl, 'UDP is served by default');
    url = t.udpAnnounceUrl;
  });
  after(() => t.close());

  it('serves udp:// on the HTTP port number', () => {
    assert.equal(t.udpAnnounceUrl, `udp://127.0.0.1:${t.port}/announce`);
    assert.equal(t.udpWarning, undefined);
  });

  it('two UDP peers see each other; counts and events follow', async () => {
    const a = await udpAnnounce(url, params(1, 1, { event: 'started' }), FAST);
    assert.deepEqual(a.peers, []);
    assert.equal(a.interval, 120);
    assert.equal(a.incomplete, 1);
    const b = await udpAnnounce(url, params(1, 2, { event: 'started', left: 0 }), FAST);
    assert.deepEqual(b.peers, [{ ip: '127.0.0.1', port: 6001 }]);
    assert.equal(b.complete, 1);
    assert.equal(b.incomplete, 1);
    const again = await udpAnnounce(url, params(1, 1), FAST);
    assert.deepEqual(again.peers, [{ ip: '127.0.0.1', port: 6002 }]);
    const announced = events.filter((e) => e.type === 'announce' && e.infoHash === hash(1).toString('hex'));
    assert.deepEqual(announced.at(-1), {
      type: 'announce',
      infoHash: hash(1).toString('hex'),
      ip: '127.0.0.1',
      port: 6001,
      event: undefined,
    });
    assert.equal(announced.length, 3);
  });

  it('HTTP and UDP announces land in one swarm', async () => {
    const http = await httpGet(
      '127.0.0.1',
      t.port,
      `/announce?${announceQuery(2, 1, '&left=5&event=started')}`,
    );
    assert.deepEqual(parseAnnounceResponse(http.body).peers, []);
    const viaUdp = await udpAnnounce(url, params(2, 2, { event: 'started' }), FAST);
    assert.deepEqual(viaUdp.peers, [{ ip: '127.0.0.1', port: 6001 }]);
    const back = await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(2, 1, '&left=5')}`);
    assert.deepEqual(ports(parseAnnounceResponse(back.body).peers), [6002]);
    assert.deepEqual(ports(t.store.peers(hash(2).toString('hex'), 50, undefined, Date.now())), [6001, 6002]);
  });

  it('scrape counts what HTTP scrape counts, in the order asked', async () => {
    await udpAnnounce(url, params(3, 1, { event: 'started', left: 0 }), FAST);
    await udpAnnounce(url, params(3, 2, { event: 'started' }), FAST);
    await udpAnnounce(url, params(3, 3, { event: 'started' }), FAST);
    await udpAnnounce(url, params(3, 3, { event: 'completed', left: 0 }), FAST);
    const stats = await udpScrape(url, [hash(99), hash(3)], FAST);
    assert.deepEqual(stats, [
      { complete: 0, incomplete: 0, downloaded: 0 },
      { complete: 2, incomplete: 1, downloaded: 1 },
    ]);
    assert.deepEqual(events.at(-1), { type: 'scrape', ip: '127.0.0.1', infoHashes: 2 });
    const http = await httpGet('127.0.0.1', t.port, `/scrape?info_hash=${encodeBytes(hash(3))}`);
    assert.deepEqual(parseScrapeResponse(http.body).get(hash(3).toString('hex')), stats[1]);
  });

  it('stopped removes the peer', async () => {
    await udpAnnounce(url, params(4, 1, { event: 'started' }), FAST);
    await udpAnnounce(url, params(4, 2, { event: 'started' }), FAST);
    const bye = await udpAnnounce(url, params(4, 1, { event: 'stopped' }), FAST);
    assert.deepEqual(bye.peers, [], 'a stopping peer is sent no peers');
    const left = await udpAnnounce(url, params(4, 2), FAST);
    assert.deepEqual(left.peers, []);
    assert.deepEqual(await udpScrape(url, [hash(4)], FAST), [{ complete: 0, incomplete: 1, downloaded: 0 }]);
  });

  it('num_want is capped as HTTP caps it, and 0 means no peers', async () => {
    for (let n = 1; n <= 4; n++) await udpAnnounce(url, params(5, n), FAST);
    assert.equal((await udpAnnounce(url, params(5, 9, { numwant: 2 }), FAST)).peers.length, 2);
    assert.equal((await udpAnnounce(url, params(5, 9, { numwant: 0 }), FAST)).peers.length, 0);
    assert.equal((await udpAnnounce(url, params(5, 9, { numwant: 100_000 }), FAST)).peers.length, 4);
  });

  it('a forged connection id, or one issued to another port, is refused with a small error', async () => {
    const raw = await Raw.open();
    const other = await Raw.open();
    try {
      const forged = announcePacket(randomBytes(8).readBigUInt64BE(0), 101, 6, 1);
      raw.send(forged, t.port);
      const r = await raw.reply(101);
      assert.equal(r.readUInt32BE(0), 3, 'an error reply');
      assert.match(r.subarray(8).toString(), /connection id expired/);
      assert.ok(r.length <= forged.length, 'never larger than the request');
      // The protocol id itself is not a connection id.
      raw.send(announcePacket(UDP_PROTOCOL_ID, 102, 6, 1), t.port);
      assert.equal((await raw.reply(102)).readUInt32BE(0), 3);

      // An id is bound to the address and port it was sent to.
      const id = await other.connect(t.port);
      raw.send(announcePacket(id, 103, 6, 1), t.port);
      assert.equal((await raw.reply(103)).readUInt32BE(0), 3);
      other.send(announcePacket(id, 104, 6, 1), t.port);
      const ok = await other.reply(104);
      assert.equal(ok.readUInt32BE(0), 1, 'the owner of the id is answered');
      assert.equal(ok.length, 20, 'no peers yet in swarm 6');
      assert.deepEqual(ports(t.store.peers(hash(6).toString('hex'), 50, undefined, Date.now())), [6001]);
      const failure = events.find((e) => e.type === 'failure' && e.path === 'udp');
      assert.deepEqual(failure, {
        type: 'failure',
        ip: '127.0.0.1',
        path: 'udp',
        reason: 'connection id expired',
      });
    } finally {
      raw.close();
      other.close();
    }
  });

  it('garbage is dropped or answered small, and the tracker keeps serving', async () => {
    const raw = await Raw.open();
    try {
      const id = await raw.connect(t.port);
      // Sizes of the datagrams sent without a valid connection id: no reply to them may be larger.
      const unproven = new Map<number, number>();
      const send = (p: Buffer, tid?: number, proven = false) => {
        if (tid !== undefined && !proven) unproven.set(tid, p.length);
        raw.send(p, t.port);
      };
      const withHeader = (cid: bigint, action: number, tid: number, size: number) => {
        const p = Buffer.alloc(size);
        p.writeBigUInt64BE(cid, 0);
        p.writeUInt32BE(action, 8);
        p.writeUInt32BE(tid, 12);
        return p;
      };
      send(Buffer.alloc(0));
      send(Buffer.from('x'));
      send(Buffer.alloc(15, 0xff));
      send(withHeader(0x41727101981n, 0, 201, 16), 201); // connect without the protocol id
      send(withHeader(id, 7, 202, 100), 202); // unknown action (checked before the id): the error fits
      send(withHeader(id, 7, 203, 16), 203); // unknown action, too small for its message: dropped
      send(withHeader(id ^ 1n, 1, 204, 20), 204); // a bad id, in less room than the answer: dropped
      send(withHeader(id ^ 1n, 1, 206, 60), 206); // a bad id: answered that, before the body is read
      send(withHeader(id ^ 1n, 3, 205, 100), 205); // an error "request"
      for (let i = 0; i < 50; i++) send(randomBytes(1 + ((i * 37) % 1400)));
      // With a valid id the sender owns its address: it is told what was wrong, whatever the size.
      send(withHeader(id, 1, 301, 60), 301, true);
      send(withHeader(id, 2, 302, 16 + 30), 302, true); // a scrape of 1.5 infohashes
      send(Buffer.concat([withHeader(id, 1, 303, 16), randomBytes(82)]), 303, true); // random fields
      // Replies leave in order on loopback: once this one is in, every earlier one is.
      await raw.connect(t.port, '127.0.0.1', 299);
      for (const r of raw.replies) {
        const tid = r.readUInt32BE(4);
        const size = unproven.get(tid);
        if (size !== undefined) assert.ok(r.length <= size, `reply to ${tid} is larger than its request`);
      }
      const said = (tid: number) =>
        raw.replies
          .find((r) => r.readUInt32BE(4) === tid)
          ?.subarray(8)
          .toString();
      assert.equal(said(202), 'unknown action 7');
      assert.equal(said(205), 'unknown action 3');
      assert.equal(said(206), 'connection id expired');
      for (const dropped of [201, 203, 204])
        assert.equal(said(dropped), undefined, `${dropped} was answered`);
      assert.match(said(301) ?? '', /announce is 60 bytes, shorter than BEP 15's 98/);
      assert.match(said(302) ?? '', /30 bytes of infohashes, not a multiple of 20/);
      // And it still serves both protocols.
      const a = await udpAnnounce(url, params(7, 1), FAST);
      assert.equal(a.incomplete, 1);
      const http = await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(7, 2)}`);
      assert.deepEqual(parseAnnounceResponse(http.body).peers, [{ ip: '127.0.0.1', port: 6001 }]);
    } finally {
      raw.close();
    }
  });

  it('a flood of connects costs nothing: the tracker keeps answering', async () => {
    const raw = await Raw.open();
    try {
      for (let i = 0; i < 3000; i++) raw.send(encodeUdpConnectRequest(i), t.port);
      // A datagram of the flood may be lost to a full socket buffer; the last one asked again is not.
      const id = await raw.connect(t.port, '127.0.0.1', 1_000_000);
      assert.ok(raw.replies.length > 1);
      for (const r of raw.replies) assert.equal(r.length, 16, 'a connect reply is the size of the request');
      raw.send(announcePacket(id, 0xabcdef, 8, 2), t.port);
      assert.equal((await raw.reply(0xabcdef)).readUInt32BE(0), 1);
      const later = await udpAnnounce(url, params(8, 1), FAST);
      assert.deepEqual(later.peers, [{ ip: '127.0.0.1', port: 6002 }]);
    } finally {
      raw.close();
    }
  });
});

describe('connection ids expire (fake clock)', () => {
  it('accepted through the next one-minute window, refused after', async () => {
    const clock = new FakeClock(59_000);
    const t = await startTracker({ port: 0, clock });
    const raw = await Raw.open();
    try {
      const id = await raw.connect(t.port);
      clock.advance(60_999); // 119 999: the window after the one it was issued in
      raw.send(announcePacket(id, 1, 1, 1), t.port);
      assert.equal((await raw.reply(1)).readUInt32BE(0), 1, 'still good a minute later');
      clock.advance(1); // 120 000: two windows on
      raw.send(announcePacket(id, 2, 1, 1), t.port);
      const r = await raw.reply(2);
      assert.equal(r.readUInt32BE(0), 3);
      assert.match(r.subarray(8).toString(), /connection id expired/);
      // Our client connects afresh and gets through.
      assert.equal((await udpAnnounce(t.udpAnnounceUrl!, params(1, 2), FAST)).peers.length, 1);
    } finally {
      raw.close();
      await t.close();
    }
  });

  it('another tracker process (another secret) does not take them', async () => {
    const one = await startTracker({ port: 0 });
    const two = await startTracker({ port: 0 });
    const raw = await Raw.open();
    try {
      const id = await raw.connect(one.port);
      raw.send(announcePacket(id, 3, 1, 1), two.port);
      assert.equal((await raw.reply(3)).readUInt32BE(0), 3);
    } finally {
      raw.close();
      await one.close();
      await two.close();
    }
  });
});

describe('tracker over UDP on IPv6 loopback', () => {
  it('hands out 18-byte peers to ::1', async (t) => {
    let tracker: TrackerHandle;
    try {
      tracker = await startTracker({ host: '::1', port: 0 });
    } catch (err) {
      t.skip(`no IPv6 loopback here: ${String(err)}`);
      return;
    }
    const raw = await Raw.open(6);
    try {
      assert.equal(tracker.udpAnnounceUrl, `udp://[::1]:${tracker.port}/announce`);
      const first = await udpAnnounce(tracker.udpAnnounceUrl!, params(1, 1), FAST);
      assert.deepEqual(first.peers, []);
      const second = await udpAnnounce(tracker.udpAnnounceUrl!, params(1, 2), FAST);
      assert.deepEqual(second.peers, [{ ip: '::1', port: 6001 }]);
      // Byte for byte: 20 bytes of header, then 18 per peer (16 address bytes and the port).
      const id = await raw.connect(tracker.port, '::1');
      raw.send(announcePacket(id, 9, 1, 3), tracker.port, '::1');
      const r = await raw.reply(9);
      assert.equal(r.readUInt32BE(0), 1);
      assert.equal(r.length, 20 + 2 * 18);
      const entries = [r.subarray(20, 38), r.subarray(38, 56)].map((e) => ({
        addr: e.subarray(0, 16).toString('hex'),
        port: e.readUInt16BE(16),
      }));
      assert.deepEqual(
        entries.sort((x, y) => x.port - y.port),
        [
          { addr: `${'00'.repeat(15)}01`, port: 6001 },
          { addr: `${'00'.repeat(15)}01`, port: 6002 },
        ],
      );
    } finally {
      raw.close();
      await tracker.close();
    }
  });
});

describe('tracker UDP switched off or unavailable', () => {
  it('udp: false opens no UDP socket', async () => {
    const t = await startTracker({ port: 0, udp: false });
    const probe = createSocket('udp4');
    try {
      assert.equal(t.udpAnnounceUrl, undefined);
      assert.equal(t.udpWarning, undefined);
      // The port number is free for UDP: nobody holds it.
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.bind(t.port, '127.0.0.1', resolve);
      });
    } finally {
      probe.close();
      await t.close();
    }
  });

  it('by default the UDP port is held, and closed with the tracker', async () => {
    const t = await startTracker({ port: 0 });
    const port = t.port;
    const bind = () =>
      new Promise<void>((resolve, reject) => {
        const probe = createSocket('udp4');
        probe.once('error', (err) => {
          probe.close();
          reject(err);
        });
        probe.bind(port, '127.0.0.1', () => probe.close(() => resolve()));
      });
    await assert.rejects(bind(), /EADDRINUSE/);
    await t.close();
    await bind();
  });

  it('a UDP port already taken leaves HTTP serving, with a warning', async () => {
    // The UDP port the kernel picks may be some other test's TCP port just then: pick again in that case.
    const squat = async (): Promise<Socket> => {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return s;
    };
    let squatter = await squat();
    let t: TrackerHandle | undefined;
    for (let attempt = 1; t === undefined; attempt++) {
      try {
        t = await startTracker({ port: squatter.address().port });
      } catch (err) {
        squatter.close();
        if (attempt >= 5 || !/in use|EADDRINUSE/.test(String(err))) throw err;
        squatter = await squat();
      }
    }
    const port = squatter.address().port;
    try {
      assert.equal(t.udpAnnounceUrl, undefined);
      assert.match(
        t.udpWarning ?? '',
        new RegExp(`not serving UDP on 127\\.0\\.0\\.1:${port} .*in use.*HTTP only`),
      );
      const http = await httpGet('127.0.0.1', t.port, `/announce?${announceQuery(1, 1)}`);
      assert.equal(parseAnnounceResponse(http.body).incomplete, 1);
    } finally {
      squatter.close();
      await t?.close();
    }
  });
});

// A tracker URL that no client would write still reaches the same swarms (BEP 41 URL data is read, not required).
describe('BEP 41 URL data', () => {
  let t: TrackerHandle;
  before(async () => {
    t = await startTracker({ port: 0 });
  });
  after(() => t.close());

  it('an announce with a path and passkey is served like any other', async () => {
    const r = await udpAnnounce(`udp://127.0.0.1:${t.port}/announce?passkey=abc`, params(1, 1), FAST);
    assert.equal(r.incomplete, 1);
    await assert.rejects(
      udpAnnounce(`udp://127.0.0.1:${t.port}/announce`, params(1, 1, { port: 0 }), FAST),
      isTrackerFailure(/invalid port 0/),
    );
  });
});

describe('UDP connection ids', () => {
  it('hold for the minute they were issued in and the next, for that address and port only', () => {
    const ids = new ConnectionIds({ secret: Buffer.alloc(32, 7), windowMs: 60_000 });
    const t0 = 10 * 60_000 + 5_000;
    const id = ids.issue('10.0.0.1', 6881, t0);
    assert.equal(ids.accepts(id, '10.0.0.1', 6881, t0), true);
    assert.equal(ids.accepts(id, '10.0.0.1', 6881, t0 + 60_000), true, 'the next minute');
    assert.equal(ids.accepts(id, '10.0.0.1', 6881, t0 + 120_000), false, 'two minutes on');
    assert.equal(ids.accepts(id, '10.0.0.1', 6881, t0 - 60_000), false, 'the minute before');
    assert.equal(ids.accepts(id, '10.0.0.1', 6882, t0), false, 'another port');
    assert.equal(ids.accepts(id, '10.0.0.2', 6881, t0), false, 'another address');
    assert.equal(ids.accepts(id ^ 1n, '10.0.0.1', 6881, t0), false, 'one bit off');
    const other = new ConnectionIds({ secret: Buffer.alloc(32, 8), windowMs: 60_000 });
    assert.equal(other.accepts(id, '10.0.0.1', 6881, t0), false, 'another secret');
  });

  it('read from a packet: the bytes issueInto writes, refused when forged or two minutes old', () => {
    const ids = new ConnectionIds({ secret: Buffer.alloc(32, 7), windowMs: 60_000 });
    const t0 = 10 * 60_000 + 5_000;
    const packet = Buffer.alloc(16);
    ids.issueInto('::1', 6881, t0, packet, 0);
    assert.equal(packet.readBigUInt64BE(0), ids.issue('::1', 6881, t0), 'the same id as issue gives');
    assert.equal(ids.acceptsAt(packet, 0, '::1', 6881, t0 + 59_000), true);
    assert.equal(ids.acceptsAt(packet, 0, '::1', 6881, t0 + 120_000), false, 'expired');
    for (let bit = 0; bit < 64; bit++) {
      const forged = Buffer.from(packet);
      forged[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(ids.acceptsAt(forged, 0, '::1', 6881, t0), false, `bit ${bit} flipped`);
    }
    assert.equal(ids.acceptsAt(Buffer.alloc(16), 0, '::1', 6881, t0), false, 'all zeros');
    // Ids of neighbouring windows, ports and addresses all differ.
    const seen = new Set<bigint>();
    for (let w = 0; w < 4; w++) {
      for (const ip of ['10.0.0.1', '10.0.0.10', '10.0.0.100', '::1', '::10']) {
        for (const port of [1, 256, 6881]) seen.add(ids.issue(ip, port, w * 60_000));
      }
    }
    assert.equal(seen.size, 4 * 5 * 3);
  });
});
