/**
 * The simulated torrent's bytes, made from a seed rather than stored: every 16 KiB block starts with a
 * 16-byte header (magic, piece, block, a tag mixed from the seed) and goes on with a filler of seeded random
 * bytes shared by all blocks. So a thousand peers of a 64 MiB torrent need not hold 64 GiB: a seeder's
 * storage makes its blocks on demand, and a leecher's can check what it was given against what it should be.
 *
 * Two ways to check a piece (the `hasher` of a scenario):
 * - `sha1`: the real thing, PieceHasher on the main thread against the torrent's real piece hashes;
 * - `compare`: the piece is compared byte for byte with the content it names in its first header, and the
 *   piece's real hash is returned only when all of it matches. Exact, and cheaper than SHA-1 (a memory
 *   compare, no digest): what the 1,000-peer scenario uses. The output of a run says which was used.
 * The content itself is made once and kept (the torrent's size in memory, whatever the number of peers).
 */
import { createHash } from 'node:crypto';
import { buildInfoDict, metainfoFromInfoBytes, pieceSize } from '../metainfo/index.js';
import type { Metainfo, TorrentLayout } from '../metainfo/types.js';
import { Bitfield } from '../shared/bitfield.js';
import { seededRandom } from '../shared/env.js';
import { ChunkswarmError } from '../shared/errors.js';
import { PieceHasher, type Storage, type VerifyOptions } from '../storage/index.js';

export const SIM_BLOCK = 16 * 1024;
const MAGIC = 0x4353_494d; // "CSIM"
const HEADER = 16;

export class SimContent {
  readonly metainfo: Metainfo;
  readonly pieceLength: number;
  readonly #filler: Buffer;
  readonly #seed: number;
  /** The whole torrent, made once: reads are views of it (never written to). */
  readonly #bytes: Buffer;

  constructor(opts: { totalBytes: number; pieceLength: number; seed: number; name?: string }) {
    if (opts.pieceLength % SIM_BLOCK !== 0) throw new Error('piece length must be a multiple of 16 KiB');
    this.#seed = opts.seed >>> 0;
    this.pieceLength = opts.pieceLength;
    this.#filler = seededRandom(opts.seed ^ 0x5eed).bytes(SIM_BLOCK);
    const count = Math.ceil(opts.totalBytes / opts.pieceLength);
    const hashes = Buffer.alloc(count * 20);
    this.#bytes = Buffer.allocUnsafe(opts.totalBytes);
    for (let i = 0; i < count; i++) {
      const at = i * opts.pieceLength;
      const piece = this.#bytes.subarray(at, Math.min(opts.totalBytes, at + opts.pieceLength));
      this.#fill(i, 0, piece);
      createHash('sha1')
        .update(piece)
        .digest()
        .copy(hashes, i * 20);
    }
    const info = buildInfoDict({
      name: opts.name ?? 'sim.bin',
      pieceLength: opts.pieceLength,
      pieceHashes: hashes,
      files: [{ path: [], length: opts.totalBytes }],
      multiFile: false,
    });
    this.metainfo = metainfoFromInfoBytes(info);
  }

  get totalBytes(): number {
    return this.metainfo.totalLength;
  }

  /** Bytes `begin..begin+length` of piece `index`: a view of the content, which must not be written to. */
  view(index: number, begin: number, length: number): Buffer {
    const at = index * this.pieceLength + begin;
    return this.#bytes.subarray(at, at + length);
  }

  #fill(index: number, begin: number, out: Buffer): void {
    let at = 0;
    while (at < out.length) {
      const offset = begin + at;
      const block = Math.floor(offset / SIM_BLOCK);
      const within = offset - block * SIM_BLOCK;
      const n = Math.min(out.length - at, SIM_BLOCK - within);
      this.#filler.copy(out, at, within, within + n);
      if (within < HEADER) {
        const header = this.#header(index, block);
        header.copy(out, at, within, Math.min(HEADER, within + n));
      }
      at += n;
    }
  }

  /** True when `data` is exactly piece `index`. */
  matches(index: number, data: Buffer): boolean {
    if (index < 0 || index >= this.metainfo.pieceCount) return false;
    const size = pieceSize(this.metainfo, index);
    return data.length === size && this.view(index, 0, size).equals(data);
  }

  /** The piece a buffer says it is (its first header), or -1. */
  namedPiece(data: Buffer): number {
    if (data.length < HEADER || data.readUInt32BE(0) !== MAGIC) return -1;
    return data.readUInt32BE(4);
  }

  #header(index: number, block: number): Buffer {
    const h = Buffer.allocUnsafe(HEADER);
    h.writeUInt32BE(MAGIC, 0);
    h.writeUInt32BE(index, 4);
    h.writeUInt32BE(block, 8);
    h.writeUInt32BE(mix(this.#seed, index, block), 12);
    return h;
  }
}

function mix(seed: number, a: number, b: number): number {
  let h = (seed ^ Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The `compare` check as a PieceHasher: the session asks for a piece's SHA-1 and compares it with the
 * torrent's; this answers with the torrent's hash of the piece the data names when the data is exactly that
 * piece, and with zeros otherwise. Nothing is hashed.
 */
export class ComparingHasher extends PieceHasher {
  readonly #content: SimContent;

  constructor(content: SimContent) {
    super({ inlineBelow: Number.POSITIVE_INFINITY });
    this.#content = content;
  }

  override sha1(data: Buffer): Promise<Buffer> {
    const index = this.#content.namedPiece(data);
    const hashes = this.#content.metainfo.pieceHashes;
    if (index >= 0 && this.#content.matches(index, data))
      return Promise.resolve(Buffer.from(hashes.subarray(index * 20, index * 20 + 20)));
    return Promise.resolve(Buffer.alloc(20));
  }
}

/**
 * Storage that holds no bytes: reads are made from the content, and a written piece is compared with it
 * (`mismatches` counts pieces that were not what they should be; a correct session never writes one).
 */
export class SyntheticStorage implements Storage {
  readonly layout: TorrentLayout;
  readonly held: Bitfield;
  mismatches = 0;
  readonly #content: SimContent;

  constructor(content: SimContent, have: Bitfield) {
    this.#content = content;
    this.layout = content.metainfo;
    this.held = new Bitfield(content.metainfo.pieceCount, have.bytes);
  }

  async read(index: number, begin: number, length: number): Promise<Buffer> {
    if (!this.held.has(index)) throw new ChunkswarmError('ESTORAGE', `cannot read piece ${index}: not held`);
    if (begin + length > pieceSize(this.layout, index))
      throw new ChunkswarmError('ESTORAGE', `read past the end of piece ${index}`);
    // A view, no copy: the read cache and the network only read it.
    return this.#content.view(index, begin, length);
  }

  async writePiece(index: number, data: Buffer): Promise<void> {
    if (!this.#content.matches(index, data)) this.mismatches++;
    this.held.set(index);
  }

  async verifyExisting(opts: VerifyOptions = {}): Promise<Bitfield> {
    const bits = new Bitfield(this.layout.pieceCount, this.held.bytes);
    if (opts.only) for (const i of this.held.indexes()) if (!opts.only.has(i)) bits.clear(i);
    return bits;
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A storage whose reads come back wrong (every byte flipped): the corrupt peer serves from it. */
export class CorruptingStorage implements Storage {
  readonly layout: TorrentLayout;
  readonly #inner: Storage;

  constructor(inner: Storage) {
    this.#inner = inner;
    this.layout = inner.layout;
  }

  async read(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer> {
    const clean = await this.#inner.read(index, begin, length, into);
    // A copy: the inner storage may hand out a view of bytes that others serve.
    const data = clean === into ? clean : Buffer.from(clean);
    for (let i = 0; i < data.length; i++) data[i] = data[i]! ^ 0xa5;
    return data;
  }

  writePiece(index: number, data: Buffer): Promise<void> {
    return this.#inner.writePiece(index, data);
  }

  verifyExisting(opts?: VerifyOptions): Promise<Bitfield> {
    return this.#inner.verifyExisting(opts);
  }

  flush(): Promise<void> {
    return this.#inner.flush();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
