/** Builders for .torrent bytes used by the metainfo tests and fuzz tests. */
import { createHash } from 'node:crypto';
import type { Encodable } from '../../src/codec/index.js';
import { encode } from '../../src/codec/index.js';
import type { FileEntry, TorrentLayout } from '../../src/metainfo/types.js';

export const KiB = 1024;

/** Piece hashes of `data` cut into pieces of `pieceLength`, the last one short. */
export function hashPieces(data: Uint8Array, pieceLength: number): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += pieceLength) {
    out.push(
      createHash('sha1')
        .update(data.subarray(at, at + pieceLength))
        .digest(),
    );
  }
  return Buffer.concat(out);
}

/** A single-file info dict for `length` bytes (piece hashes are dummies of the right count). */
export function singleInfo(overrides: Record<string, Encodable | undefined> = {}, length = 40 * KiB) {
  const pieceLength = 16 * KiB;
  return {
    length,
    name: 'file.bin',
    'piece length': pieceLength,
    pieces: Buffer.alloc(Math.ceil(length / pieceLength) * 20, 0xab),
    ...overrides,
  };
}

/** A multi-file info dict whose files have these lengths and paths. */
export function multiInfo(
  files: readonly { length: number; path: string[]; attr?: string }[],
  overrides: Record<string, Encodable | undefined> = {},
) {
  const pieceLength = 16 * KiB;
  const total = files.reduce((s, f) => s + f.length, 0);
  return {
    files: files.map((f) => ({ length: f.length, path: f.path, ...(f.attr ? { attr: f.attr } : {}) })),
    name: 'folder',
    'piece length': pieceLength,
    pieces: Buffer.alloc(Math.ceil(total / pieceLength) * 20, 0xcd),
    ...overrides,
  };
}

export function torrentBytes(
  info: Encodable,
  outer: Record<string, Encodable | undefined> = { announce: 'http://127.0.0.1:6969/announce' },
): Buffer {
  return encode({ ...outer, info });
}

/**
 * A layout from a picture: one letter per byte, files separated by '|', so "AAAAA|BB||DDDD" is
 * four files of 5, 2, 0 and 4 bytes. Letters name files by index (A = 0), so a zero-length file
 * takes a letter too (C above) even though it holds no bytes.
 */
export function layoutFromPicture(picture: string, pieceLength: number): TorrentLayout {
  const lengths = picture.split('|').map((s) => s.length);
  const files: FileEntry[] = [];
  let offset = 0;
  lengths.forEach((length, i) => {
    files.push({ path: [`f${i}`], length, offset });
    offset += length;
  });
  return {
    name: 'pic',
    pieceLength,
    pieceCount: Math.ceil(offset / pieceLength),
    totalLength: offset,
    files,
    multiFile: true,
    pieceHashes: Buffer.alloc(Math.ceil(offset / pieceLength) * 20),
  };
}
