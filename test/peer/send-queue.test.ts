/**
 * What a connection hands its socket: blocks a little at a time, so that a REQUEST or a HAVE does not wait
 * behind a megabyte of our upload to the peer, while a CHOKE or a REJECT keeps its place behind the blocks;
 * a CANCEL takes back a block still held.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerConnection, type PeerHost } from '../../src/peer/connection.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { FakeClock } from '../../src/shared/clock.js';
import type { ByteStream, StreamHandlers } from '../../src/shared/env.js';
import { encodeHandshake, encodeMessage, encodePieceHeader, type WireMessage } from '../../src/wire/index.js';
import { INFO_HASH, PEER_ID } from '../wire/stream.js';

const KiB = 1024;
const BLOCK = 16 * KiB;

/** A socket whose network takes nothing until the test says so. */
class SlowSocket implements ByteStream {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 6881;
  readonly writes: Buffer[] = [];
  #untaken: (() => void)[] = [];
  pendingBytes = 0;
  handlers: StreamHandlers | undefined;
  closed = false;

  write(bytes: Buffer, written?: () => void): void {
    this.writes.push(bytes);
    this.pendingBytes += bytes.length;
    if (written) this.#untaken.push(written);
  }

  /** The network takes everything written so far; the socket says 'drain', as Node's does. */
  takeAll(): void {
    this.pendingBytes = 0;
    for (const w of this.#untaken.splice(0)) w();
    this.handlers?.drain();
  }

  pause(): void {}
  resume(): void {}
  close(): void {
    this.closed = true;
  }
  attach(h: StreamHandlers): void {
    this.handlers = h;
  }
}

function host(): PeerHost {
  return {
    infoHash: INFO_HASH,
    peerId: PEER_ID,
    pieceCount: 64,
    listenPort: 6881,
    haveBits: () => Bitfield.full(64),
    onReady: () => {},
    onMessage: () => {},
    onClose: () => {},
  };
}

/** A block whose bytes name it. */
function block(i: number): Buffer {
  return Buffer.alloc(BLOCK, i);
}

/** The socket's writes after the handshake, named: `block i`, or the message's type. */
function named(socket: SlowSocket, from: number): string[] {
  const known: [Buffer, string][] = [
    [encodeMessage({ type: 'have', index: 5 }), 'have'],
    [encodeMessage({ type: 'request', index: 1, begin: 0, length: BLOCK }), 'request'],
    [encodeMessage({ type: 'choke' }), 'choke'],
    [encodeMessage({ type: 'reject', index: 9, begin: 0, length: BLOCK }), 'reject'],
  ];
  return socket.writes.slice(from).flatMap((w) => {
    if (w.length === BLOCK) return [`block ${w[0]}`];
    const hit = known.find(([b]) => b.equals(w));
    if (hit) return [hit[1]];
    // A PIECE message's header goes with its block; anything else is a write this test did not expect.
    assert.ok(w.length === 13 && w[4] === 7, `unexpected write of ${w.length} bytes`);
    return [];
  });
}

function queueMegabyte(conn: PeerConnection, written: number[]): Promise<void>[] {
  const sent: Promise<void>[] = [];
  for (let i = 0; i < 64; i++) sent.push(conn.sendBlock(0, i * BLOCK, block(i), () => written.push(i)));
  return sent;
}

test('a REQUEST and a HAVE go out ahead of the blocks still held, a CHOKE and a REJECT behind them', async () => {
  const socket = new SlowSocket();
  const conn = new PeerConnection(socket, { host: host(), clock: new FakeClock() });
  conn.setChoking(false);
  const start = socket.writes.length; // the handshake and the unchoke
  const written: number[] = [];
  const sent = queueMegabyte(conn, written);
  // Only the first blocks reach the socket; the rest wait in the connection.
  const first = named(socket, start);
  assert.ok(first.length >= 3 && first.length <= 5, `blocks handed to the socket at once: ${first.length}`);
  assert.ok(socket.pendingBytes <= 80 * KiB, `${socket.pendingBytes} bytes in the socket`);

  conn.setChoking(true);
  conn.send({ type: 'reject', index: 9, begin: 0, length: BLOCK });
  conn.send({ type: 'have', index: 5 });
  conn.request([{ index: 1, begin: 0, length: BLOCK }]);
  assert.deepEqual(named(socket, start).slice(first.length), ['have', 'request']);

  // The serving loop waits while a megabyte is queued, and goes on once the network has taken some.
  let last = false;
  void sent[63]!.then(() => {
    last = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(last, false);
  for (
    let turns = 0;
    turns < 100 && socket.writes.length > 0 && named(socket, start).at(-1) !== 'reject';
    turns++
  )
    socket.takeAll();
  await new Promise((r) => setImmediate(r));
  assert.equal(last, true);

  const all = named(socket, start);
  const blocks = all.filter((n) => n.startsWith('block'));
  assert.deepEqual(
    blocks,
    Array.from({ length: 64 }, (_, i) => `block ${i}`),
  );
  assert.deepEqual(all.slice(-2), ['choke', 'reject'], 'the choke and the reject follow every block');
  assert.ok(all.indexOf('have') < all.indexOf('block 8'), 'the have went out ahead of the held blocks');
  socket.takeAll();
  assert.deepEqual(
    written,
    Array.from({ length: 64 }, (_, i) => i),
    'each block released once it was taken',
  );
});

test('a connection that closes with blocks held releases each of them, and its serving loop goes on', async () => {
  const socket = new SlowSocket();
  const conn = new PeerConnection(socket, { host: host(), clock: new FakeClock() });
  const written: number[] = [];
  const sent = queueMegabyte(conn, written);
  conn.close('test');
  await Promise.all(sent);
  socket.takeAll();
  assert.deepEqual(
    [...written].sort((a, b) => a - b),
    Array.from({ length: 64 }, (_, i) => i),
  );
  assert.ok(socket.closed);
});

test('with room in the socket, messages of both kinds go out in the order they were sent', () => {
  const socket = new SlowSocket();
  const conn = new PeerConnection(socket, { host: host(), clock: new FakeClock() });
  conn.setChoking(false);
  const start = socket.writes.length;
  void conn.sendBlock(0, 0, block(1));
  conn.send({ type: 'have', index: 5 });
  conn.setChoking(true);
  conn.request([{ index: 1, begin: 0, length: BLOCK }]);
  const expected: WireMessage['type'][] = ['have', 'choke', 'request'];
  assert.deepEqual(named(socket, start), ['block 1', ...expected]);
  assert.ok(socket.writes[start]!.equals(encodePieceHeader(0, 0, BLOCK)));
});

test('a CANCEL takes back a block still held and answers with a REJECT; a block in the socket is sent whole', () => {
  const socket = new SlowSocket();
  const conn = new PeerConnection(socket, { host: host(), clock: new FakeClock() });
  const receive = (...messages: WireMessage[]) => {
    for (const m of messages) socket.handlers!.data(encodeMessage(m));
  };
  const remote = Buffer.from('-XX0001-remotepeer00', 'latin1');
  socket.handlers!.data(
    encodeHandshake({ infoHash: INFO_HASH, peerId: remote, fast: true, extended: false }),
  );
  receive({ type: 'have-none' });
  conn.setChoking(false);
  const requests = Array.from({ length: 64 }, (_, i) => ({ index: 0, begin: i * BLOCK, length: BLOCK }));
  receive(...requests.map((r): WireMessage => ({ type: 'request', ...r })));
  // As the serving loop does: each request taken and its block queued.
  const written: number[] = [];
  for (const [i, r] of requests.entries()) {
    assert.ok(conn.takeRequest(r));
    void conn.sendBlock(r.index, r.begin, block(i), () => written.push(i));
  }
  // The blocks in the socket so far, by the byte each is filled with.
  const blocks = () => socket.writes.filter((w) => w.length === BLOCK).map((w) => w[0]);
  assert.ok(blocks().length >= 1 && blocks().length < 40, `${blocks().length} blocks in the socket`);
  // Block 0 is in the socket already, block 40 is held.
  receive({ type: 'cancel', ...requests[0]! }, { type: 'cancel', ...requests[40]! });
  assert.deepEqual(written, [40], 'the dropped block is released at once');
  const reject = encodeMessage({ type: 'reject', ...requests[40]! });
  for (let turns = 0; turns < 100 && !socket.writes.at(-1)!.equals(reject); turns++) socket.takeAll();
  socket.takeAll();
  assert.deepEqual(
    blocks(),
    Array.from({ length: 64 }, (_, i) => i).filter((i) => i !== 40),
  );
  const rejects = socket.writes.filter((w) => w.length === reject.length && w[4] === reject[4]);
  assert.deepEqual(rejects, [reject], 'one REJECT, for the block taken back');
  assert.equal(written.length, 64, 'every block released once');
});
