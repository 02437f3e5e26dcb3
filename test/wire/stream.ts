/** Test helpers shared by the wire tests and the wire fuzz file: sample streams and a chunked decode. */
import fc from 'fast-check';
import {
  type DecoderEvent,
  type DecoderLimits,
  encodeHandshake,
  encodeMessage,
  WireDecoder,
  type WireMessage,
} from '../../src/wire/index.js';

export const INFO_HASH = Buffer.alloc(20, 0xab);
export const PEER_ID = Buffer.from('-CS0001-abcdefghijkl', 'latin1');

/** One of every message kind, for a torrent of 20 pieces (bitfield of 3 bytes, 4 spare bits zero). */
export const EVERY_MESSAGE: WireMessage[] = [
  { type: 'keep-alive' },
  { type: 'choke' },
  { type: 'unchoke' },
  { type: 'interested' },
  { type: 'not-interested' },
  { type: 'have', index: 0xffff_fffe },
  { type: 'bitfield', bits: Buffer.from([0b1010_0000, 0xff, 0b1111_0000]) },
  { type: 'request', index: 7, begin: 16384, length: 16384 },
  { type: 'piece', index: 7, begin: 16384, block: Buffer.from('a block of data') },
  { type: 'cancel', index: 7, begin: 16384, length: 16384 },
  { type: 'port', port: 6881 },
  { type: 'suggest', index: 3 },
  { type: 'have-all' },
  { type: 'have-none' },
  { type: 'reject', index: 1, begin: 2, length: 3 },
  { type: 'allowed-fast', index: 19 },
  { type: 'extended', id: 0, payload: Buffer.from('d1:md11:ut_metadatai3eee') },
  { type: 'extended', id: 3, payload: Buffer.alloc(0) },
];

export const PIECES = 20;

export function sampleStream(): { bytes: Buffer; events: DecoderEvent[] } {
  const handshake = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID, fast: true, extended: true });
  const bytes = Buffer.concat([handshake, ...EVERY_MESSAGE.map(encodeMessage)]);
  const events: DecoderEvent[] = [
    {
      kind: 'handshake',
      handshake: {
        infoHash: INFO_HASH,
        peerId: PEER_ID,
        reserved: Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 0x04]),
        fast: true,
        extended: true,
        dht: false,
      },
    },
    ...EVERY_MESSAGE.map((message): DecoderEvent => ({ kind: 'message', message })),
  ];
  return { bytes, events };
}

/** Feeds `chunks` to a fresh decoder; returns all events, or the error it threw. */
export function decodeChunks(
  chunks: Uint8Array[],
  opts: { expectHandshake?: boolean; limits?: Partial<DecoderLimits> } = {},
): { events: DecoderEvent[]; error?: unknown } {
  const decoder = new WireDecoder(opts);
  const events: DecoderEvent[] = [];
  try {
    for (const chunk of chunks) events.push(...decoder.push(chunk));
  } catch (error) {
    return { events, error };
  }
  return { events };
}

/**
 * Feeds `chunks` to a fresh decoder the way a socket reading into one shared buffer does: each chunk is
 * copied into the same memory and pushed as `reused`; a block is copied out at once (as the session copies
 * it into its piece), and the memory is scribbled over before the next read.
 */
export function decodeThroughOneBuffer(
  chunks: Uint8Array[],
  opts: { expectHandshake?: boolean; limits?: Partial<DecoderLimits>; zeroCopy?: boolean } = {},
): { events: DecoderEvent[]; error?: unknown } {
  const decoder = new WireDecoder(opts);
  const readBuffer = Buffer.alloc(Math.max(1, ...chunks.map((c) => c.length)));
  const events: DecoderEvent[] = [];
  try {
    for (const chunk of chunks) {
      readBuffer.set(chunk);
      for (const e of decoder.push(readBuffer.subarray(0, chunk.length), true)) {
        if (e.kind === 'message' && e.message.type === 'piece')
          events.push({ kind: 'message', message: { ...e.message, block: Buffer.from(e.message.block) } });
        else events.push(e);
      }
      readBuffer.fill(0xee);
    }
  } catch (error) {
    return { events, error };
  }
  return { events };
}

/** Cuts `bytes` at the given offsets (any order, duplicates allowed, giving empty chunks). */
export function cut(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const points = [...offsets].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  out.push(bytes.subarray(start));
  return out;
}

/** fast-check: a byte string and a random set of cut points inside it. */
export function chunkings(bytes: Uint8Array): fc.Arbitrary<Uint8Array[]> {
  return fc
    .array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 })
    .map((offsets) => cut(bytes, offsets));
}

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const triple = fc.record({ index: u32, begin: u32, length: fc.integer({ min: 1, max: 16384 }) });

/** fast-check: any message the default decoder accepts when the piece count is unknown. */
export const wireMessage: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.constantFrom<WireMessage>(
    { type: 'keep-alive' },
    { type: 'choke' },
    { type: 'unchoke' },
    { type: 'interested' },
    { type: 'not-interested' },
    { type: 'have-all' },
    { type: 'have-none' },
  ),
  u32.map((index): WireMessage => ({ type: 'have', index })),
  u32.map((index): WireMessage => ({ type: 'suggest', index })),
  u32.map((index): WireMessage => ({ type: 'allowed-fast', index })),
  fc.integer({ min: 0, max: 0xffff }).map((port): WireMessage => ({ type: 'port', port })),
  fc.uint8Array({ maxLength: 64 }).map((b): WireMessage => ({ type: 'bitfield', bits: Buffer.from(b) })),
  triple.map((t): WireMessage => ({ type: 'request', ...t })),
  triple.map((t): WireMessage => ({ type: 'cancel', ...t })),
  triple.map((t): WireMessage => ({ type: 'reject', ...t })),
  fc
    .record({ index: u32, begin: u32, block: fc.uint8Array({ minLength: 1, maxLength: 200 }) })
    .map((p): WireMessage => ({ type: 'piece', ...p, block: Buffer.from(p.block) })),
  fc
    .record({ id: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 200 }) })
    .map((e): WireMessage => ({ type: 'extended', id: e.id, payload: Buffer.from(e.payload) })),
);
