import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from '../../src/codec/index.js';
import { PeerConnection, type PeerHost } from '../../src/peer/connection.js';
import {
  TRACE_BYTES,
  TRACE_CLOSED_KEPT,
  TraceBook,
  type TraceEntry,
  TraceRing,
  type TraceSubject,
  traceEntry,
} from '../../src/peer/trace.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { FakeClock } from '../../src/shared/clock.js';
import type { ByteStream, StreamHandlers } from '../../src/shared/env.js';
import {
  encodeExtensionHandshake,
  encodeHandshake,
  encodeMessage,
  type WireMessage,
} from '../../src/wire/index.js';
import { INFO_HASH, PEER_ID } from '../wire/stream.js';

const msg = (
  m: WireMessage,
  dir: 'in' | 'out' = 'in',
  names?: (dir: 'in' | 'out', id: number) => string | undefined,
) => traceEntry(dir, { kind: 'message', message: m }, 7, 1000, names);

/** The bytes an entry should show: the encoded message's first TRACE_BYTES, and its whole length. */
function wire(m: WireMessage): { hex: string; length: number } {
  const b = encodeMessage(m);
  return { hex: b.subarray(0, TRACE_BYTES).toString('hex'), length: b.length };
}

test('every fixed-size message: kind, summary, fields and its exact bytes', () => {
  const cases: [WireMessage, string, Record<string, unknown>][] = [
    [{ type: 'keep-alive' }, 'KEEP-ALIVE', {}],
    [{ type: 'choke' }, 'CHOKE', {}],
    [{ type: 'unchoke' }, 'UNCHOKE', {}],
    [{ type: 'interested' }, 'INTERESTED', {}],
    [{ type: 'not-interested' }, 'NOT-INTERESTED', {}],
    [{ type: 'have-all' }, 'HAVE-ALL', {}],
    [{ type: 'have-none' }, 'HAVE-NONE', {}],
    [{ type: 'have', index: 2 }, 'HAVE 2', { index: 2 }],
    [{ type: 'suggest', index: 5 }, 'SUGGEST 5', { index: 5 }],
    [{ type: 'allowed-fast', index: 9 }, 'ALLOWED-FAST 9', { index: 9 }],
    [
      { type: 'request', index: 3, begin: 0, length: 16384 },
      'REQUEST 3:0+16384',
      { index: 3, begin: 0, length: 16384 },
    ],
    [
      { type: 'cancel', index: 3, begin: 16384, length: 16384 },
      'CANCEL 3:16384+16384',
      { index: 3, begin: 16384, length: 16384 },
    ],
    [{ type: 'reject', index: 1, begin: 2, length: 3 }, 'REJECT 1:2+3', { index: 1, begin: 2, length: 3 }],
    [{ type: 'port', port: 6881 }, 'PORT 6881', { port: 6881 }],
  ];
  for (const [m, summary, fields] of cases) {
    const e = msg(m);
    assert.equal(e.kind, m.type);
    assert.equal(e.summary, summary);
    assert.deepEqual(e.fields, fields);
    assert.deepEqual(e.bytes, wire(m));
    assert.equal(e.seq, 7);
    assert.equal(e.at, 1000);
    assert.equal(e.dir, 'in');
  }
});

test('a piece shows its first bytes only, and its whole length', () => {
  const block = Buffer.alloc(16384, 0x5a);
  const m: WireMessage = { type: 'piece', index: 3, begin: 16384, block };
  const e = msg(m, 'out');
  assert.equal(e.kind, 'piece');
  assert.equal(e.summary, 'PIECE 3:16384+16384');
  assert.deepEqual(e.fields, { index: 3, begin: 16384, length: 16384 });
  assert.equal(e.bytes.length, 13 + 16384);
  assert.equal(e.bytes.hex, encodeMessage(m).subarray(0, TRACE_BYTES).toString('hex'));
  assert.equal(e.bytes.hex.length, TRACE_BYTES * 2);
});

test('a bitfield counts what it holds', () => {
  const m: WireMessage = { type: 'bitfield', bits: Buffer.from([0b1010_0000, 0xff, 0b1111_0000]) };
  const e = msg(m);
  assert.equal(e.summary, 'BITFIELD 14 held');
  assert.deepEqual(e.fields, { held: 14, bytes: 3 });
  assert.deepEqual(e.bytes, wire(m));
});

test('the handshake: infohash, peer id as text, reserved bits, and its 68 bytes', () => {
  const bytes = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID, fast: true, extended: true });
  const e = traceEntry(
    'in',
    {
      kind: 'handshake',
      handshake: {
        infoHash: INFO_HASH,
        peerId: PEER_ID,
        reserved: bytes.subarray(20, 28),
        fast: true,
        extended: true,
        dht: false,
      },
    },
    0,
    5,
  );
  assert.equal(e.kind, 'handshake');
  assert.equal(e.summary, 'HANDSHAKE -CS0001-');
  assert.equal(e.fields.info_hash, INFO_HASH.toString('hex'));
  assert.equal(e.fields.peer_id, '-CS0001-abcdefghijkl');
  assert.equal(e.fields.reserved, '0000000000100004');
  assert.equal(e.fields.fast, true);
  assert.deepEqual(e.bytes, { hex: bytes.subarray(0, TRACE_BYTES).toString('hex'), length: 68 });
});

test('the extension handshake (BEP 10): its keys as fields', () => {
  const payload = encodeExtensionHandshake({
    m: { ut_metadata: 2 },
    client: 'chunkswarm 0.1.0',
    port: 6881,
    reqq: 250,
    metadataSize: 1234,
    yourIp: Buffer.from([127, 0, 0, 1]),
  });
  const m: WireMessage = { type: 'extended', id: 0, payload };
  const e = msg(m);
  assert.equal(e.kind, 'extended-handshake');
  assert.equal(e.summary, 'EXTENDED HANDSHAKE');
  assert.deepEqual(e.fields, {
    m: { ut_metadata: 2 },
    v: 'chunkswarm 0.1.0',
    p: 6881,
    reqq: 250,
    metadata_size: 1234,
    yourip: '127.0.0.1',
  });
  assert.deepEqual(e.bytes, wire(m));
});

test('ut_metadata (BEP 9) and ut_pex (BEP 11) are named by the ids each side chose', () => {
  const names = (dir: 'in' | 'out', id: number) =>
    dir === 'in' ? (id === 2 ? 'ut_metadata' : undefined) : id === 1 ? 'ut_pex' : undefined;
  const data = Buffer.concat([encode({ msg_type: 1, piece: 0, total_size: 5 }), Buffer.from('hello')]);
  const meta = msg({ type: 'extended', id: 2, payload: data }, 'in', names);
  assert.equal(meta.kind, 'ut_metadata');
  assert.equal(meta.summary, 'UT_METADATA data 0');
  assert.deepEqual(meta.fields, { msg_type: 1, type: 'data', piece: 0, total_size: 5, data_length: 5 });

  const request = msg({ type: 'extended', id: 2, payload: encode({ msg_type: 0, piece: 3 }) }, 'in', names);
  assert.equal(request.summary, 'UT_METADATA request 3');

  const added = Buffer.from([127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2]);
  const dropped = Buffer.from([192, 168, 1, 9, 0, 80]);
  const pex = msg(
    { type: 'extended', id: 1, payload: encode({ added, 'added.f': Buffer.from([0, 0]), dropped }) },
    'out',
    names,
  );
  assert.equal(pex.kind, 'ut_pex');
  assert.equal(pex.summary, 'UT_PEX +2 -1');
  assert.deepEqual(pex.fields.added, ['127.0.0.1:6881', '10.0.0.2:6882']);
  assert.deepEqual(pex.fields.dropped, ['192.168.1.9:80']);

  // The same id the other way is not ours: an extension we do not know by that id.
  const other = msg({ type: 'extended', id: 1, payload: Buffer.from('xyz') }, 'in', names);
  assert.equal(other.kind, 'extended');
  assert.equal(other.summary, 'EXTENDED #1');
  assert.deepEqual(other.fields, { id: 1, name: null, length: 3 });
});

test('a payload the trace cannot read is shown with the reason, never thrown', () => {
  const names = () => 'ut_metadata';
  const e = msg({ type: 'extended', id: 2, payload: Buffer.from('not bencode') }, 'in', names);
  assert.equal(e.kind, 'extended');
  assert.equal(typeof e.fields.error, 'string');
  const h = msg({ type: 'extended', id: 0, payload: Buffer.from('li1ee') });
  assert.equal(typeof h.fields.error, 'string');
});

const entry = (seq: number): TraceEntry => ({
  seq,
  at: seq,
  dir: 'in',
  kind: 'have',
  summary: `HAVE ${seq}`,
  fields: { index: seq },
  bytes: { hex: '', length: 9 },
});

test('TraceRing keeps the last entries, oldest first, and counts what it dropped', () => {
  const ring = new TraceRing(3);
  assert.deepEqual(ring.since(), []);
  for (let i = 0; i < 2; i++) ring.push(entry(i));
  assert.deepEqual(
    ring.since().map((e) => e.seq),
    [0, 1],
  );
  assert.equal(ring.dropped, 0);
  for (let i = 2; i < 7; i++) ring.push(entry(i));
  assert.equal(ring.size, 3);
  assert.equal(ring.total, 7);
  assert.equal(ring.dropped, 4);
  assert.deepEqual(
    ring.since().map((e) => e.seq),
    [4, 5, 6],
  );
  assert.deepEqual(
    ring.since(5).map((e) => e.seq),
    [5, 6],
  );
  assert.deepEqual(ring.since(7), []);
  assert.throws(() => new TraceRing(0), RangeError);
});

function subject(address: string): TraceSubject & { closed: boolean } {
  return { peerAddress: address, outgoing: true, closed: false, clientName: 'x', host: undefined };
}

test('TraceBook: a ring per connection, bounded, and closed connections forgotten past the limit', () => {
  let now = 100;
  const book = new TraceBook({ capacity: 4, now: () => now, ours: new Map([[2, 'ut_metadata']]) });
  const a = subject('127.0.0.1:1');
  const trace = book.tracerFor(a);
  for (let i = 0; i < 6; i++) {
    now++;
    trace('out', { kind: 'message', message: { type: 'have', index: i } });
  }
  const [view] = book.connections();
  assert.deepEqual(view, {
    id: 1,
    address: '127.0.0.1:1',
    client: 'x',
    infoHash: null,
    outgoing: true,
    closed: false,
    total: 6,
    dropped: 2,
  });
  assert.deepEqual(
    book.entries(1).map((e) => [e.seq, e.at, e.summary]),
    [
      [2, 103, 'HAVE 2'],
      [3, 104, 'HAVE 3'],
      [4, 105, 'HAVE 4'],
      [5, 106, 'HAVE 5'],
    ],
  );
  assert.deepEqual(book.entries(99), []);
  a.closed = true;
  const subjects = [];
  for (let i = 0; i < TRACE_CLOSED_KEPT + 5; i++) {
    const s = subject(`127.0.0.1:${i + 2}`);
    book.tracerFor(s);
    s.closed = true;
    subjects.push(s);
  }
  const open = subject('127.0.0.1:9999');
  book.tracerFor(open);
  const list = book.connections();
  assert.equal(list.filter((c) => c.closed).length, TRACE_CLOSED_KEPT - 1);
  assert.ok(list.some((c) => c.address === '127.0.0.1:9999'));
  assert.ok(!list.some((c) => c.id === 1), 'the oldest closed one is forgotten');
});

/** Two ends of an in-memory byte stream: what one writes, the other receives on the next tick. */
function pipePair(): [ByteStream, ByteStream] {
  const make = (port: number): ByteStream & { peer?: ByteStream & { deliver(b: Buffer): void } } => {
    let handlers: StreamHandlers | undefined;
    const queued: Buffer[] = [];
    const s = {
      remoteAddress: '127.0.0.1',
      remotePort: port,
      pendingBytes: 0,
      peer: undefined as (ByteStream & { deliver(b: Buffer): void }) | undefined,
      write(bytes: Buffer, written?: () => void) {
        const copy = Buffer.from(bytes);
        setImmediate(() => s.peer?.deliver(copy));
        written?.();
      },
      deliver(b: Buffer) {
        if (handlers) handlers.data(b);
        else queued.push(b);
      },
      pause() {},
      resume() {},
      close() {},
      attach(h: StreamHandlers) {
        handlers = h;
        for (const b of queued.splice(0)) h.data(b);
      },
    };
    return s;
  };
  const a = make(2);
  const b = make(1);
  a.peer = b as never;
  b.peer = a as never;
  return [a, b];
}

function host(peerId: Buffer, ready: PeerConnection[], messages: WireMessage[]): PeerHost {
  return {
    infoHash: INFO_HASH,
    peerId,
    pieceCount: 4,
    listenPort: 6881,
    haveBits: () => Bitfield.full(4),
    onReady: (p) => ready.push(p),
    onMessage: (_p, m) => messages.push(m),
    onClose: () => {},
  };
}

test('PeerConnection: untraced unless asked; traced, it records both ways from the handshake on', async () => {
  const clock = new FakeClock();
  const book = new TraceBook();
  const [s1, s2] = pipePair();
  const ready: PeerConnection[] = [];
  const got: WireMessage[] = [];
  const plain = new PeerConnection(s2, {
    host: host(Buffer.from('-XX0001-zzzzzzzzzzzz'), ready, got),
    clock,
  });
  assert.equal(plain.tracer, undefined);
  PeerConnection.traceWith = (c) => book.tracerFor(c);
  let traced: PeerConnection;
  try {
    traced = new PeerConnection(s1, { host: host(PEER_ID, ready, got), clock });
  } finally {
    PeerConnection.traceWith = undefined;
  }
  assert.notEqual(traced.tracer, undefined);
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };
  await turns(10);
  assert.equal(ready.length, 2);
  traced.setInterested(true);
  await turns(5);
  plain.setChoking(false);
  await turns(5);
  traced.request([{ index: 2, begin: 0, length: 4 }]);
  await turns(5);
  await plain.sendBlock(2, 0, Buffer.from('abcd'));
  await turns(5);
  traced.send({ type: 'have', index: 2 });
  const seen = book.entries(1).map((e) => `${e.dir} ${e.summary}`);
  assert.deepEqual(seen, [
    'out HANDSHAKE -CS0001-',
    'in HANDSHAKE -XX0001-',
    'out EXTENDED HANDSHAKE',
    'out HAVE-ALL',
    'in EXTENDED HANDSHAKE',
    'in HAVE-ALL',
    'out INTERESTED',
    'in UNCHOKE',
    'out REQUEST 2:0+4',
    'in PIECE 2:0+4',
    'out HAVE 2',
  ]);
  assert.deepEqual(
    book.entries(1).map((e) => e.seq),
    seen.map((_, i) => i),
  );
  traced.close('done');
  plain.close('done');
});
