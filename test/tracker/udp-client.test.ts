import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { TrackerClient, udpAnnounce, udpScrape } from '../../src/tracker/client/index.js';
import { startTracker, type TrackerHandle } from '../../src/tracker/server/index.js';
import { hash, peerId } from './helpers.js';

const isCode = (code: Parameters<typeof isChunkswarmError>[1], msg?: RegExp) => (err: unknown) =>
  isChunkswarmError(err, code) && (msg === undefined || msg.test(err.message));

/** One announce as the scripted tracker read it, field by field at BEP 15's offsets. */
interface SeenAnnounce {
  readonly connectionId: bigint;
  readonly infoHash: string;
  readonly peerId: Buffer;
  readonly downloaded: bigint;
  readonly left: bigint;
  readonly uploaded: bigint;
  readonly event: number;
  readonly ip: number;
  readonly key: number;
  readonly numWant: number;
  readonly port: number;
  /** The BEP 41 options after the 98 fixed bytes. */
  readonly options: Buffer;
}

interface Script {
  /** Packets to swallow before answering anything (the client must retransmit). */
  drop?: number;
  /** Before each real answer, send one datagram with another transaction id. */
  stray?: boolean;
  /** Answer announces with action 3 and this message. */
  error?: string;
  /** Answer every packet with these bytes. */
  garbage?: Buffer;
}

/**
 * A small UDP tracker written straight from BEP 15 (not with chunkswarm's codec), so the client
 * is checked against the wire format rather than against itself. Swarms hold IPv4 peers.
 */
class ScriptedTracker {
  readonly socket: Socket;
  readonly received: Buffer[] = [];
  readonly announces: SeenAnnounce[] = [];
  readonly swarms = new Map<string, Map<string, { ip: Buffer; port: number; seeder: boolean }>>();
  readonly #ids = new Set<bigint>();
  #nextId = 0x1000n;
  script: Script;

  private constructor(socket: Socket, script: Script) {
    this.socket = socket;
    this.script = script;
    socket.on('message', (msg, rinfo) => this.#onPacket(msg, rinfo));
  }

  static async start(script: Script = {}, family: 'udp4' | 'udp6' = 'udp4'): Promise<ScriptedTracker> {
    const socket = createSocket(family);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, family === 'udp4' ? '127.0.0.1' : '::1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new ScriptedTracker(socket, script);
  }

  get port(): number {
    return this.socket.address().port;
  }

  url(path = '/announce'): string {
    const host = this.socket.address().family === 'IPv6' ? '[::1]' : '127.0.0.1';
    return `udp://${host}:${this.port}${path}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }

  #send(packet: Buffer, rinfo: RemoteInfo): void {
    this.socket.send(packet, rinfo.port, rinfo.address);
  }

  #onPacket(msg: Buffer, rinfo: RemoteInfo): void {
    this.received.push(msg);
    if (this.script.drop !== undefined && this.script.drop > 0) {
      this.script.drop--;
      return;
    }
    if (msg.length < 16) return;
    const action = msg.readUInt32BE(8);
    const tid = msg.readUInt32BE(12);
    if (this.script.garbage) {
      this.#send(this.script.garbage, rinfo);
      return;
    }
    if (this.script.stray) {
      const stray = Buffer.alloc(16);
      stray.writeUInt32BE(action, 0);
      stray.writeUInt32BE((tid + 1) >>> 0, 4);
      this.#send(stray, rinfo);
    }
    const head = (a: number, size: number) => {
      const b = Buffer.alloc(size);
      b.writeUInt32BE(a, 0);
      b.writeUInt32BE(tid, 4);
      return b;
    };
    if (action === 0) {
      if (msg.readBigUInt64BE(0) !== 0x41727101980n) return;
      const id = this.#nextId++;
      this.#ids.add(id);
      const out = head(0, 16);
      out.writeBigUInt64BE(id, 8);
      this.#send(out, rinfo);
      return;
    }
    if (!this.#ids.has(msg.readBigUInt64BE(0))) return; // BEP 15: unknown connection ids are ignored
    if (action === 1 && msg.length >= 98) {
      const a: SeenAnnounce = {
        connectionId: msg.readBigUInt64BE(0),
        infoHash: msg.subarray(16, 36).toString('hex'),
        peerId: Buffer.from(msg.subarray(36, 56)),
        downloaded: msg.readBigUInt64BE(56),
        left: msg.readBigUInt64BE(64),
        uploaded: msg.readBigUInt64BE(72),
        event: msg.readUInt32BE(80),
        ip: msg.readUInt32BE(84),
        key: msg.readUInt32BE(88),
        numWant: msg.readInt32BE(92),
        port: msg.readUInt16BE(96),
        options: Buffer.from(msg.subarray(98)),
      };
      this.announces.push(a);
      if (this.script.error !== undefined) {
        this.#send(Buffer.concat([head(3, 8), Buffer.from(this.script.error)]), rinfo);
        return;
      }
      const swarm = this.swarms.get(a.infoHash) ?? new Map();
      this.swarms.set(a.infoHash, swarm);
      const others = [...swarm.entries()].filter(([id]) => id !== a.peerId.toString('hex'));
      if (a.event === 3) swarm.delete(a.peerId.toString('hex'));
      else {
        const ip = Buffer.from(rinfo.address.split('.').map(Number));
        swarm.set(a.peerId.toString('hex'), { ip, port: a.port, seeder: a.left === 0n });
      }
      const all = [...swarm.values()];
      const out = head(1, 20 + 6 * others.length);
      out.writeUInt32BE(900, 8);
      out.writeUInt32BE(all.filter((p) => !p.seeder).length, 12);
      out.writeUInt32BE(all.filter((p) => p.seeder).length, 16);
      others.forEach(([, p], i) => {
        p.ip.copy(out, 20 + 6 * i);
        out.writeUInt16BE(p.port, 24 + 6 * i);
      });
      this.#send(out, rinfo);
      return;
    }
    if (action === 2) {
      const n = Math.floor((msg.length - 16) / 20);
      const out = head(2, 8 + 12 * n);
      for (let i = 0; i < n; i++) {
        const swarm = [
          ...(this.swarms.get(msg.subarray(16 + 20 * i, 36 + 20 * i).toString('hex'))?.values() ?? []),
        ];
        out.writeUInt32BE(swarm.filter((p) => p.seeder).length, 8 + 12 * i);
        out.writeUInt32BE(7, 12 + 12 * i);
        out.writeUInt32BE(swarm.filter((p) => !p.seeder).length, 16 + 12 * i);
      }
      this.#send(out, rinfo);
    }
  }
}

/** A UDP port nothing listens on: bound once, then released. */
async function deadUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Short waits so a lost packet costs little; no assertion depends on how long anything took. */
const fast = { timeoutMs: 5000, udpTryTimeoutMs: 250, shuffle: false } as const;

describe('TrackerClient over UDP (BEP 15)', () => {
  let tracker: ScriptedTracker;
  let http: TrackerHandle;
  let deadUdp: string;

  before(async () => {
    tracker = await ScriptedTracker.start();
    http = await startTracker({ port: 0 });
    deadUdp = `udp://127.0.0.1:${await deadUdpPort()}/announce`;
  });
  after(async () => {
    await tracker.close();
    await http.close();
  });

  it('announces, gets the other peers, and scrapes', async () => {
    const a = new TrackerClient({
      tiers: [[tracker.url()]],
      infoHash: hash(1),
      peerId: peerId(1),
      port: 6001,
      ...fast,
    });
    const first = await a.announce({ event: 'started', uploaded: 5, downloaded: 6, left: 0 });
    assert.deepEqual(first, { url: tracker.url(), interval: 900, complete: 1, incomplete: 0, peers: [] });
    const seen = tracker.announces.at(-1)!;
    assert.equal(seen.infoHash, hash(1).toString('hex'));
    assert.deepEqual(seen.peerId, peerId(1));
    assert.deepEqual([seen.uploaded, seen.downloaded, seen.left], [5n, 6n, 0n]);
    assert.deepEqual([seen.event, seen.ip, seen.numWant, seen.port], [2, 0, -1, 6001]);
    // BEP 41: the path goes along as URL data.
    assert.deepEqual(seen.options, Buffer.concat([Buffer.from([2, 9]), Buffer.from('/announce')]));

    const b = new TrackerClient({
      tiers: [[tracker.url()]],
      infoHash: hash(1),
      peerId: peerId(2),
      port: 6002,
      ...fast,
    });
    const second = await b.announce({ event: 'started', uploaded: 0, downloaded: 0, left: 100, numwant: 20 });
    assert.deepEqual(second.peers, [{ ip: '127.0.0.1', port: 6001 }]);
    assert.equal(second.complete, 1);
    assert.equal(second.incomplete, 1);
    assert.equal(tracker.announces.at(-1)!.numWant, 20);
    await b.announce({ uploaded: 0, downloaded: 0, left: 100 });
    const keys = tracker.announces.slice(-2).map((s) => s.key);
    assert.equal(keys[0], keys[1], 'one key per client');
    assert.deepEqual(await b.scrape(), { complete: 1, incomplete: 1, downloaded: 7, url: tracker.url() });

    await b.announce({ event: 'stopped', uploaded: 0, downloaded: 0, left: 100 });
    assert.equal(tracker.announces.at(-1)!.event, 3);
  });

  it('the transport scrapes several swarms in one packet', async () => {
    const stats = await udpScrape(tracker.url(), [hash(1), hash(99)], { timeoutMs: 5000, tryTimeoutMs: 250 });
    assert.deepEqual(stats, [
      { complete: 1, incomplete: 0, downloaded: 7 },
      { complete: 0, incomplete: 0, downloaded: 7 },
    ]);
    // A name is looked up first (IPv4 preferred, where this tracker listens).
    const byName = await udpScrape(`udp://localhost:${tracker.port}/announce`, [hash(1)], {
      timeoutMs: 5000,
      tryTimeoutMs: 250,
    });
    assert.deepEqual(byName, [stats[0]]);
  });

  it('retransmits a packet the tracker did not get', async () => {
    const lossy = await ScriptedTracker.start({ drop: 1 });
    try {
      const c = new TrackerClient({
        tiers: [[lossy.url()]],
        infoHash: hash(2),
        peerId: peerId(3),
        port: 6003,
        ...fast,
      });
      const r = await c.announce({ uploaded: 0, downloaded: 0, left: 1 });
      assert.equal(r.url, lossy.url());
      // The dropped connect and its copy carry the same transaction id.
      assert.ok(lossy.received.length >= 3);
      assert.deepEqual(lossy.received[0], lossy.received[1]);
    } finally {
      await lossy.close();
    }
  });

  it('ignores datagrams with another transaction id, and from other sockets', async () => {
    const noisy = await ScriptedTracker.start({ stray: true });
    const stranger = createSocket('udp4');
    noisy.socket.on('message', (_msg, rinfo) => {
      // The client's own port, but sent from a socket that is not the tracker.
      stranger.send(Buffer.alloc(16), rinfo.port, rinfo.address);
    });
    try {
      const c = new TrackerClient({
        tiers: [[noisy.url()]],
        infoHash: hash(3),
        peerId: peerId(4),
        port: 6004,
        ...fast,
      });
      const r = await c.announce({ uploaded: 0, downloaded: 0, left: 1 });
      assert.deepEqual(r.peers, []);
      // Had the stray been taken for the answer, its transaction id would have failed the decode.
      assert.equal(r.interval, 900);
    } finally {
      stranger.close();
      await noisy.close();
    }
  });

  it("reports a tracker's error reply as ETRACKER_FAILURE with its message", async () => {
    const refusing = await ScriptedTracker.start({ error: 'unregistered torrent' });
    try {
      const c = new TrackerClient({
        tiers: [[refusing.url()]],
        infoHash: hash(4),
        peerId: peerId(5),
        port: 6005,
        ...fast,
      });
      await assert.rejects(
        c.announce({ uploaded: 0, downloaded: 0, left: 1 }),
        isCode('ETRACKER_FAILURE', /^tracker said: unregistered torrent$/),
      );
    } finally {
      await refusing.close();
    }
  });

  it('reports garbage as ETRACKER_RESPONSE', async () => {
    const babbling = await ScriptedTracker.start({ garbage: Buffer.from('hi') });
    try {
      await assert.rejects(
        udpAnnounce(
          babbling.url(),
          { infoHash: hash(5), peerId: peerId(6), port: 6006, uploaded: 0, downloaded: 0, left: 0, key: 1 },
          { timeoutMs: 5000, tryTimeoutMs: 250 },
        ),
        isCode('ETRACKER_RESPONSE', /too short/),
      );
    } finally {
      await babbling.close();
    }
  });

  it('gives up on a dead port or a silent tracker with ETRACKER_UNREACHABLE naming it', async () => {
    const c = new TrackerClient({
      tiers: [[deadUdp]],
      infoHash: hash(6),
      peerId: peerId(7),
      port: 6007,
      ...fast,
    });
    const origin = deadUdp.replace('/announce', '');
    await assert.rejects(
      c.announce({ uploaded: 0, downloaded: 0, left: 1 }),
      (err: unknown) => isChunkswarmError(err, 'ETRACKER_UNREACHABLE') && err.message.includes(origin),
    );
    const silent = await ScriptedTracker.start({ drop: 1000 });
    try {
      const params = {
        infoHash: hash(6),
        peerId: peerId(7),
        port: 6007,
        uploaded: 0,
        downloaded: 0,
        left: 1,
        key: 1,
      };
      await assert.rejects(
        udpAnnounce(silent.url(), params, { timeoutMs: 10_000, tries: 3, tryTimeoutMs: 50 }),
        isCode('ETRACKER_UNREACHABLE', /did not answer within 10000 ms \(3 tries\)/),
      );
      assert.equal(silent.received.length, 3, 'three copies of the connect request');
      // A budget shorter than the tries: the deadline ends it.
      await assert.rejects(
        udpAnnounce(silent.url(), params, { timeoutMs: 150, tries: 10, tryTimeoutMs: 100 }),
        isCode('ETRACKER_UNREACHABLE', /did not answer/),
      );
      await assert.rejects(
        udpAnnounce('udp://127.0.0.1/announce', params),
        isCode('ETRACKER_UNREACHABLE', /needs a host and a port/),
      );
    } finally {
      await silent.close();
    }
  });

  it('falls back from a dead udp tracker to a live http one in its tier, and promotes a udp one that answers (BEP 12)', async () => {
    const toHttp = new TrackerClient({
      tiers: [[deadUdp, http.announceUrl]],
      infoHash: hash(7),
      peerId: peerId(8),
      port: 6008,
      ...fast,
    });
    assert.equal((await toHttp.announce({ uploaded: 0, downloaded: 0, left: 1 })).url, http.announceUrl);
    assert.deepEqual(toHttp.tiers, [[http.announceUrl, deadUdp]]);

    const deadHttp = http.announceUrl.replace(/:\d+\//, `:${await deadUdpPort()}/`);
    const toUdp = new TrackerClient({
      tiers: [[deadHttp, tracker.url()]],
      infoHash: hash(7),
      peerId: peerId(9),
      port: 6009,
      ...fast,
    });
    assert.equal((await toUdp.announce({ uploaded: 0, downloaded: 0, left: 1 })).url, tracker.url());
    assert.deepEqual(toUdp.tiers, [[tracker.url(), deadHttp]]);
    // Scrape takes tiers in order too: the udp tracker, now first, answers.
    assert.equal((await toUdp.scrape()).url, tracker.url());
  });

  it('announceEvery merges the peers of a udp tier and an http tier', async () => {
    const only = (url: string, n: number) =>
      new TrackerClient({ tiers: [[url]], infoHash: hash(8), peerId: peerId(n), port: 6100 + n, ...fast });
    await only(tracker.url(), 1).announce({ uploaded: 0, downloaded: 0, left: 0 });
    await only(http.announceUrl, 2).announce({ uploaded: 0, downloaded: 0, left: 0 });
    const c = new TrackerClient({
      tiers: [[tracker.url()], [http.announceUrl], ['wss://tracker.example/announce']],
      infoHash: hash(8),
      peerId: peerId(3),
      port: 6103,
      ...fast,
    });
    const outcomes = await c.announceAll({ uploaded: 0, downloaded: 0, left: 5 });
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'skipped'],
    );
    assert.deepEqual(outcomes[2], {
      status: 'skipped',
      tier: 2,
      warning: 'no tracker chunkswarm can speak to (http, https or udp) in: wss://tracker.example/announce',
    });
    const merged = await c.announceEvery({ uploaded: 0, downloaded: 0, left: 5 });
    assert.equal(merged.url, tracker.url());
    assert.deepEqual(merged.peers.map((p) => p.port).sort(), [6101, 6102]);
  });

  it('reads 18-byte peers from a tracker reached over IPv6', async (t) => {
    let v6: ScriptedTracker;
    try {
      v6 = await ScriptedTracker.start({}, 'udp6');
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    // This scripted tracker speaks IPv4 swarms only; answer one IPv6 peer by hand instead.
    v6.socket.removeAllListeners('message');
    v6.socket.on('message', (msg, rinfo) => {
      const tid = msg.readUInt32BE(12);
      const action = msg.readUInt32BE(8);
      const out = Buffer.alloc(action === 0 ? 16 : 20 + 18);
      out.writeUInt32BE(action, 0);
      out.writeUInt32BE(tid, 4);
      if (action === 0) out.writeBigUInt64BE(5n, 8);
      else {
        out.writeUInt32BE(60, 8);
        Buffer.from('20010db8000000000000000000000007', 'hex').copy(out, 20);
        out.writeUInt16BE(6881, 36);
      }
      v6.socket.send(out, rinfo.port, rinfo.address);
    });
    try {
      const r = await udpAnnounce(
        v6.url(),
        { infoHash: hash(9), peerId: peerId(1), port: 1, uploaded: 0, downloaded: 0, left: 0, key: 1 },
        { timeoutMs: 5000, tryTimeoutMs: 250 },
      );
      assert.deepEqual(r.peers, [{ ip: '2001:db8::7', port: 6881 }]);
    } finally {
      await v6.close();
    }
  });
});
