/**
 * BEP 6 (fast extension) and BEP 10 (extension protocol) handshakes against libtorrent, spoken
 * over a raw socket with chunkswarm's own wire codec (src/wire): what libtorrent advertises and
 * sends is decoded by our decoder, and what our encoder writes is accepted by libtorrent.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  allowedFastSet,
  decodeExtensionHandshake,
  encodeExtensionHandshake,
  encodeHandshake,
  encodeMessage,
  type Handshake,
  WireDecoder,
  type WireMessage,
} from '../../src/wire/index.js';
import { Harness, makeFile, sameBytes } from '../integration/harness.js';
import { ltMake, startLt } from './clients.js';
import { hasPackage, needPackages, underCI } from './gate.js';

const BLOCK = 16 * 1024;
// 16 KiB pieces, one block each, and a last piece of 100 bytes.
const PIECES = 41;
const SIZE = (PIECES - 1) * BLOCK + 100;
const OUR_ID = Buffer.from('-CS0100-interoptest0');

const h = new Harness();
let content: Buffer;
let torrent = '';
let infoHash: Buffer;
let src = '';

before(async () => {
  await h.setup();
  src = join(h.dir, 'src');
  content = await makeFile(join(src, 'wire.bin'), SIZE, 'wire test');
  torrent = join(h.dir, 'wire.torrent');
  if (!underCI() && !hasPackage('python3-libtorrent')) return;
  infoHash = Buffer.from(
    await ltMake(join(src, 'wire.bin'), torrent, {
      pieceLength: BLOCK,
      trackers: ['http://127.0.0.1:9/announce'],
    }),
    'hex',
  );
});
after(() => h.teardown());

function pieceBytes(index: number): Buffer {
  return content.subarray(index * BLOCK, Math.min(SIZE, (index + 1) * BLOCK));
}

type Event = { kind: 'handshake'; handshake: Handshake } | { kind: 'message'; message: WireMessage };

/**
 * One connection driven by the test: our decoder on the way in, our encoder on the way out. Every
 * event is kept until a `next` takes it, so waiting for one kind never loses another.
 */
class RawPeer {
  readonly log: string[] = [];
  /** Whether the remote side chokes us, after the last event received. */
  peerChoking = true;
  /** When set, messages go to it instead of the queue. */
  handler: ((m: WireMessage) => void) | undefined;
  readonly #queue: Event[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #error: Error | undefined;

  constructor(readonly socket: Socket) {
    const decoder = new WireDecoder({ limits: { pieceCount: PIECES } });
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const e of decoder.push(chunk)) {
          this.log.push(e.kind === 'handshake' ? 'handshake' : describe(e.message));
          if (e.kind === 'message' && e.message.type === 'choke') this.peerChoking = true;
          if (e.kind === 'message' && e.message.type === 'unchoke') this.peerChoking = false;
          if (this.handler && e.kind === 'message') this.handler(e.message);
          else this.#queue.push(e);
        }
      } catch (err) {
        this.#error = err as Error;
        socket.destroy();
      }
      this.#wake?.();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake?.();
    });
    socket.on('error', () => {});
  }

  send(m: WireMessage): void {
    this.socket.write(encodeMessage(m));
  }

  /** Takes the first queued event that `want` maps to a value, waiting for one if need be. */
  async next<T>(what: string, want: (e: Event) => T | undefined, timeoutMs = 15_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      for (let i = 0; i < this.#queue.length; i++) {
        const hit = want(this.#queue[i]!);
        if (hit !== undefined) {
          this.#queue.splice(i, 1);
          return hit;
        }
      }
      if (this.#error) throw new Error(`our decoder refused libtorrent's bytes: ${this.#error.message}`);
      if (this.#closed)
        assert.fail(`connection closed while waiting for ${what}; got: ${this.log.join(', ')}`);
      const left = end - Date.now();
      if (left <= 0) assert.fail(`no ${what} within ${timeoutMs} ms; got: ${this.log.join(', ')}`);
      await this.#changed(left);
    }
  }

  message<K extends WireMessage['type']>(
    type: K,
    timeoutMs?: number,
  ): Promise<Extract<WireMessage, { type: K }>> {
    return this.next(
      type,
      (e) =>
        e.kind === 'message' && e.message.type === type
          ? (e.message as Extract<WireMessage, { type: K }>)
          : undefined,
      timeoutMs,
    );
  }

  /** Waits until `check` holds (checked after every received chunk). */
  async until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (this.#closed)
        assert.fail(`connection closed while waiting for ${what}; got: ${this.log.join(', ')}`);
      const left = end - Date.now();
      if (left <= 0) assert.fail(`no ${what} within ${timeoutMs} ms; got: ${this.log.join(', ')}`);
      await this.#changed(left);
    }
  }

  #changed(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, timeoutMs);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}

function describe(m: WireMessage): string {
  switch (m.type) {
    case 'have':
    case 'suggest':
    case 'allowed-fast':
      return `${m.type} ${m.index}`;
    case 'request':
    case 'cancel':
    case 'reject':
      return `${m.type} ${m.index}/${m.begin}/${m.length}`;
    case 'piece':
      return `piece ${m.index}/${m.begin}/${m.block.length}`;
    case 'extended':
      return `extended ${m.id}`;
    case 'bitfield':
      return `bitfield ${m.bits.toString('hex')}`;
    default:
      return m.type;
  }
}

test('a libtorrent seeder: reserved bits, its BEP 10 handshake, HAVE ALL, REJECT, ALLOWED FAST and pieces', {
  timeout: 60_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const lt = await startLt(h, 'seed', { torrent, save: src, maxSeconds: 50 });
  const socket = connect(lt.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const peer = new RawPeer(socket);
  try {
    socket.write(encodeHandshake({ infoHash, peerId: OUR_ID, fast: true, extended: true }));
    peer.send({
      type: 'extended',
      id: 0,
      payload: encodeExtensionHandshake({ m: {}, client: 'raw-interop 1.0', reqq: 64 }),
    });
    // BEP 6: a peer with nothing says HAVE NONE instead of an empty bitfield.
    peer.send({ type: 'have-none' });

    const hs = await peer.next('handshake', (e) => (e.kind === 'handshake' ? e.handshake : undefined));
    assert.ok(hs.infoHash.equals(infoHash), 'libtorrent answered for another torrent');
    assert.ok(hs.extended, `BEP 10 bit (reserved[5] & 0x10) not set: ${hs.reserved.toString('hex')}`);
    assert.ok(hs.fast, `BEP 6 bit (reserved[7] & 0x04) not set: ${hs.reserved.toString('hex')}`);
    assert.match(hs.peerId.subarray(0, 8).toString('latin1'), /^-LT\d{4}-$/);

    const ext = await peer.next('extension handshake', (e) =>
      e.kind === 'message' && e.message.type === 'extended' && e.message.id === 0
        ? decodeExtensionHandshake(e.message.payload)
        : undefined,
    );
    assert.match(ext.client ?? '', /^libtorrent-interop\//, 'client name (v) from the BEP 10 handshake');
    assert.ok(ext.reqq !== undefined && ext.reqq > 0, `reqq should be a positive count, got ${ext.reqq}`);
    assert.deepEqual([...(ext.yourIp ?? [])], [127, 0, 0, 1], 'yourip is our address as libtorrent sees it');
    assert.ok(ext.m.has('ut_metadata'), `libtorrent offers BEP 9: ${[...ext.m.keys()].join(', ')}`);
    const info = await readFile(torrent);
    assert.ok(ext.metadataSize !== undefined && ext.metadataSize > 0 && ext.metadataSize < info.length);

    // A seeder that speaks BEP 6 opens with HAVE ALL, never a full bitfield.
    const first = await peer.next('have-all or bitfield', (e) =>
      e.kind === 'message' && (e.message.type === 'have-all' || e.message.type === 'bitfield')
        ? e.message
        : undefined,
    );
    assert.equal(first.type, 'have-all');

    // A request past the end of piece 0 is invalid: with the fast extension the answer is a
    // REJECT naming that very block (BEP 6), not a silent drop.
    peer.send({ type: 'request', index: 0, begin: BLOCK, length: BLOCK });
    const rejected = await peer.message('reject');
    assert.deepEqual(rejected, { type: 'reject', index: 0, begin: BLOCK, length: BLOCK });

    peer.send({ type: 'interested' });
    // libtorrent grants its allowed-fast set to a peer that holds nothing (BEP 6).
    const allowed = new Set<number>();
    while (allowed.size < 3) {
      const af = await peer.message('allowed-fast');
      assert.ok(af.index < PIECES, `allowed-fast index ${af.index} out of range`);
      allowed.add(af.index);
    }
    for (const index of [2, PIECES - 1]) {
      const expected = pieceBytes(index);
      // libtorrent's choker may choke us again at any moment; with the fast extension it then
      // REJECTs what we asked (BEP 6), and we ask again once unchoked.
      let block: Buffer | undefined;
      for (let attempt = 0; attempt < 5 && !block; attempt++) {
        await peer.until('unchoke', () => !peer.peerChoking);
        peer.send({ type: 'request', index, begin: 0, length: expected.length });
        const answer = await peer.next(`piece ${index}`, (e) =>
          e.kind === 'message' &&
          (e.message.type === 'piece' || e.message.type === 'reject') &&
          e.message.index === index
            ? e.message
            : undefined,
        );
        if (answer.type === 'piece') {
          assert.equal(answer.begin, 0);
          block = answer.block;
        }
      }
      assert.ok(block, `piece ${index} was rejected five times: ${peer.log.join(', ')}`);
      assert.ok(block.equals(expected), `piece ${index} differs from the file`);
    }
    // libtorrent read our BEP 10 handshake: it names us by our `v`.
    await lt.proc.waitFor(/^peer 127\.0\.0\.1:\d+ client="raw-interop 1\.0" ext=1 seed=0$/m, 10_000);
    assert.doesNotMatch(lt.proc.output(), /alert peer_error_alert/);
  } finally {
    socket.destroy();
  }
});

test('a libtorrent leecher accepts our handshakes, HAVE ALL, ALLOWED FAST while choked and a REJECT', {
  timeout: 60_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  let accepted: (s: Socket) => void = () => {};
  const incoming = new Promise<Socket>((resolve) => {
    accepted = resolve;
  });
  const server: Server = createServer((s) => accepted(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const save = join(h.dir, 'lt-leech');
  const lt = await startLt(h, 'leech', { torrent, save, connect: [`127.0.0.1:${port}`], maxSeconds: 50 });
  const socket = await incoming;
  const peer = new RawPeer(socket);
  try {
    const hs = await peer.next('handshake', (e) => (e.kind === 'handshake' ? e.handshake : undefined));
    assert.ok(hs.infoHash.equals(infoHash));
    assert.ok(hs.fast && hs.extended, `libtorrent's reserved bytes: ${hs.reserved.toString('hex')}`);
    socket.write(encodeHandshake({ infoHash, peerId: OUR_ID, fast: true, extended: true }));
    peer.send({
      type: 'extended',
      id: 0,
      payload: encodeExtensionHandshake({ m: {}, client: 'raw-seeder 1.0', reqq: 250, port }),
    });
    peer.send({ type: 'have-all' });

    // libtorrent holds nothing, and says so the BEP 6 way.
    await peer.next('have-none', (e) =>
      e.kind === 'message' && e.message.type === 'have-none' ? true : undefined,
    );
    await peer.message('interested');

    // Choked, libtorrent may fetch only the pieces we allow (BEP 6).
    const allowed = allowedFastSet('127.0.0.1', infoHash, PIECES, 2);
    for (const index of allowed) peer.send({ type: 'allowed-fast', index });
    const served = new Set<number>();
    const serve = (m: { index: number; begin: number; length: number }): void => {
      const block = pieceBytes(m.index).subarray(m.begin, m.begin + m.length);
      peer.send({ type: 'piece', index: m.index, begin: m.begin, block });
      served.add(m.index);
    };
    while (!allowed.every((i) => served.has(i))) {
      const r = await peer.message('request');
      assert.ok(
        allowed.includes(r.index),
        `libtorrent asked for piece ${r.index} while choked; allowed: ${allowed}`,
      );
      serve(r);
    }

    // Unchoked, serve everything, except that the first request is refused: libtorrent must ask
    // for that block again.
    let refused: { index: number; begin: number } | undefined;
    let askedAgain = false;
    peer.handler = (m) => {
      if (m.type !== 'request') return;
      if (!refused) {
        refused = { index: m.index, begin: m.begin };
        peer.send({ type: 'reject', index: m.index, begin: m.begin, length: m.length });
        return;
      }
      if (m.index === refused.index && m.begin === refused.begin) askedAgain = true;
      serve(m);
    };
    // libtorrent drops a seeder once it finishes, so check now, while connected, that it read our
    // BEP 10 handshake: it names us by our `v`.
    await lt.proc.waitFor(/^peer 127\.0\.0\.1:\d+ client="raw-seeder 1\.0" ext=1 seed=1$/m, 10_000);
    peer.send({ type: 'unchoke' });
    await lt.proc.waitFor(/^finished$/m, 40_000);
    assert.ok(refused, 'libtorrent sent no request once unchoked');
    assert.ok(
      askedAgain,
      `libtorrent never asked again for the rejected block ${refused.index}/${refused.begin}`,
    );
    const res = await lt.result(15_000);
    assert.ok(res.finished, lt.proc.output());
    assert.ok(await sameBytes(join(save, 'wire.bin'), join(src, 'wire.bin')), 'libtorrent saved other bytes');
    assert.doesNotMatch(lt.proc.output(), /alert (peer_error_alert|hash_failed_alert)/);
  } finally {
    socket.destroy();
    server.close();
  }
});
