import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ByteRange, FileEntry, TorrentLayout } from '../../src/metainfo/types.js';
import { alignedBuffer } from '../../src/storage/aligned.js';

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
  files: { path: string[]; length: number; pad?: boolean; executable?: boolean }[],
  pieceLength: number,
  multiFile = true,
): Built {
  // A BEP 47 padding file (`pad`) is zeros in the content, and in `padding` rather than in the files;
  // `executable` is BEP 47's 'x'.
  const parts = files.map((f, i) => (f.pad ? Buffer.alloc(f.length) : bytes(f.length, i + 1)));
  const content = Buffer.concat(parts);
  const entries: FileEntry[] = [];
  const padding: ByteRange[] = [];
  let offset = 0;
  for (const f of files) {
    if (f.pad) padding.push({ offset, length: f.length });
    else
      entries.push({ path: f.path, length: f.length, offset, ...(f.executable ? { executable: true } : {}) });
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
    ...(padding.length > 0 ? { padding } : {}),
  };
  return { layout, content, fileData: parts.filter((_, i) => !files[i]!.pad) };
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

/** A copy of `b` in a buffer from alignedBuffer, as a session's pool hands pieces to storage. */
export function alignedCopy(b: Buffer): Buffer {
  const out = alignedBuffer(b.length);
  b.copy(out);
  return out;
}

/**
 * Whether files in `dir` take O_DIRECT writes (Linux on most disk file systems, tmpfs since 6.6): a file opened
 * with it and one aligned block written, since some file systems accept the flag and refuse the write.
 */
export async function directIoIn(dir: string): Promise<boolean> {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  if (flag === undefined) return false;
  const path = join(dir, '.direct-io-probe');
  try {
    const h = await open(path, constants.O_WRONLY | constants.O_CREAT | flag, 0o600);
    try {
      await h.write(alignedBuffer(4096), 0, 4096, 0);
    } finally {
      await h.close();
    }
    return true;
  } catch {
    return false;
  } finally {
    await rm(path, { force: true });
  }
}

type Write = (...args: unknown[]) => Promise<unknown>;

/**
 * Runs `body` with every FileHandle's `write` replaced by `wrap(original)` (called with the handle as `this`),
 * and puts the original back after. FileHandle is not exported, so its prototype is taken from a handle.
 */
export async function withFileHandleWrite<T>(
  dir: string,
  wrap: (original: Write) => Write,
  body: () => Promise<T>,
): Promise<T> {
  const probe = await open(join(dir, '.write-probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: Write };
  await probe.close();
  await rm(join(dir, '.write-probe'), { force: true });
  const original = proto.write;
  proto.write = wrap(original);
  try {
    return await body();
  } finally {
    proto.write = original;
  }
}
