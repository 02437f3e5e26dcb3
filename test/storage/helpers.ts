import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileEntry, TorrentLayout } from '../../src/metainfo/types.js';

/** Deterministic bytes that differ at every offset and seed, so a misplaced span shows up. */
export function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export interface Built {
  layout: TorrentLayout;
  /** The torrent's whole byte stream (all files concatenated). */
  content: Buffer;
  /** Each file's bytes, in layout order. */
  fileData: Buffer[];
}

/** A layout over the given files, with piece hashes computed from their bytes. */
export function buildLayout(
  name: string,
  files: { path: string[]; length: number }[],
  pieceLength: number,
  multiFile = true,
): Built {
  const fileData = files.map((f, i) => bytes(f.length, i + 1));
  const content = Buffer.concat(fileData);
  const entries: FileEntry[] = [];
  let offset = 0;
  for (const f of files) {
    entries.push({ path: f.path, length: f.length, offset });
    offset += f.length;
  }
  const pieceCount = Math.ceil(content.length / pieceLength);
  const hashes: Buffer[] = [];
  for (let i = 0; i < pieceCount; i++) {
    hashes.push(
      createHash('sha1')
        .update(content.subarray(i * pieceLength, (i + 1) * pieceLength))
        .digest(),
    );
  }
  const layout: TorrentLayout = {
    name,
    pieceLength,
    pieceCount,
    totalLength: content.length,
    files: entries,
    multiFile,
    pieceHashes: Buffer.concat(hashes),
  };
  return { layout, content, fileData };
}

/**
 * 16 KiB pieces over: a 10000-byte file, a zero-length file, a 3000-byte file, a 20000-byte file
 * in a subfolder and a 1000-byte file. Piece 0 spans files a, c and d (a zero-length one between);
 * the last piece is short.
 */
export function multiLayout(): Built {
  return buildLayout(
    'album',
    [
      { path: ['a.bin'], length: 10_000 },
      { path: ['empty.txt'], length: 0 },
      { path: ['c.bin'], length: 3_000 },
      { path: ['sub', 'deeper', 'd.bin'], length: 20_000 },
      { path: ['e.bin'], length: 1_000 },
    ],
    16 * 1024,
  );
}

export function piece(built: Built, index: number): Buffer {
  const { pieceLength } = built.layout;
  return built.content.subarray(index * pieceLength, (index + 1) * pieceLength);
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'chunkswarm-storage-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
